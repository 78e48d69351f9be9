"""Rules generate and baselines: every prompt's image set from one loaded model (a method's, or the base model)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

from conceptbench.generate import generate_sets, pick_device, use_scheduler
from conceptbench.jobs import start_job
from conceptbench.methods import get_method
from conceptbench.models import load_pipeline

log = start_job(snakemake)
p = snakemake.params
if p.method is None:
    pipe = load_pipeline(p.base_model)
else:
    pipe = get_method(p.method["type"]).load(p.base_model, snakemake.input.checkpoint, p.method)
pipe = use_scheduler(pipe, p.generation["scheduler"]).to(pick_device(p.device))
g = p.generation
generate_sets(pipe, [tuple(s) for s in p.sets], snakemake.output[0], steps=g["steps"],
              guidance_scale=g["guidance_scale"], resolution=g["resolution"], batch_size=g["batch_size"], log=log)
