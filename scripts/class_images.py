"""Rule class_images: the base model's images of "a photo of <class>", for class-prior preservation."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.generate import generate_sets, pick_device, use_scheduler
from conceptbench.models import load_pipeline

log = start_job(snakemake)
p = snakemake.params
pipe = use_scheduler(load_pipeline(p.base_model), p.scheduler).to(pick_device(p.device))
seeds = list(range(p.prior["seed"], p.prior["seed"] + p.prior["num_images"]))
generate_sets(pipe, [("", p.prompt, seeds)], snakemake.output[0], steps=p.prior["steps"],
              guidance_scale=p.prior["guidance_scale"],
              resolution=p.resolution, batch_size=p.batch_size, log=log)
