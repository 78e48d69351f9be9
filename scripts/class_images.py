"""Rule class_images: the base model's images of "a photo of <class>", for class-prior preservation. Resumes after
a kill."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.diffusion.devices import pick_device
from conceptbench.diffusion.generation import generation_key, make_image_sets
from conceptbench.diffusion.pipelines import load_pipeline
from conceptbench.diffusion.schedulers import use_scheduler

log = start_job(snakemake)
p = snakemake.params


def load():
    return use_scheduler(load_pipeline(p.base_model), p.scheduler).to(pick_device(p.device))


seeds = list(range(p.prior["seed"], p.prior["seed"] + p.prior["num_images"]))
make_image_sets(snakemake.output[0], [(load, [("", p.prompt, seeds)], "")],
                key=generation_key(dict(p.items()), list(snakemake.input), pick_device(p.device)),
                steps=p.prior["steps"], guidance_scale=p.prior["guidance_scale"], resolution=p.resolution,
                batch_size=p.batch_size, log=log)
log(f"-> {snakemake.output[0]}")
