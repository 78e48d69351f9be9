"""Rule class_images: the base model's images of "a photo of <class>", for class-prior preservation."""
from conceptbench.generate import generate_sets, pick_device, use_scheduler
from conceptbench.jobs import start_job
from conceptbench.models import load_pipeline

log = start_job(snakemake)
p = snakemake.params
pipe = use_scheduler(load_pipeline(p.base_model), p.generation["scheduler"]).to(pick_device(p.device))
seeds = list(range(p.seed, p.seed + p.num_images))
generate_sets(pipe, [("", p.prompt, seeds)], snakemake.output[0], steps=p.steps, guidance_scale=p.guidance_scale,
              resolution=p.generation["resolution"], batch_size=p.generation["batch_size"], log=log)
