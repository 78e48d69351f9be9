"""Rules generate and baselines: every prompt's image set from one loaded model (a method's, or the base model);
for a method with eval_steps, also from each of its snapshots, into snapshots/step<N>/."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from pathlib import Path

from conceptbench.diffusion.devices import pick_device
from conceptbench.diffusion.generation import write_sets
from conceptbench.diffusion.pipelines import load_pipeline
from conceptbench.diffusion.schedulers import use_scheduler
from conceptbench.files import AtomicFolder
from conceptbench.methods import get_method
from conceptbench.runs import snapshot_folder

log = start_job(snakemake)
p = snakemake.params
g = p.generation


def load(checkpoint):
    if p.method is None:
        pipe = load_pipeline(p.base_model)
    else:
        pipe = get_method(p.method["type"]).load(p.base_model, checkpoint, p.method)
    return use_scheduler(pipe, g["scheduler"]).to(pick_device(p.device))


settings = dict(steps=g["steps"], guidance_scale=g["guidance_scale"], resolution=g["resolution"],
                batch_size=g["batch_size"], log=log)
with AtomicFolder(snakemake.output[0]) as out:
    write_sets(load(snakemake.input.get("checkpoint")), [tuple(s) for s in p.sets], out, **settings)
    for step, sets in p.snapshot_sets:
        log(f"snapshot at step {step}")
        write_sets(load(Path(snakemake.input.checkpoint) / snapshot_folder(step)), [tuple(s) for s in sets],
                   out / snapshot_folder(step), **settings)
log(f"-> {snakemake.output[0]}")
