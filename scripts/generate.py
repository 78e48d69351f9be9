"""Rules generate and baselines: every prompt's image set from one loaded model (a method's, or the base model);
for a method with eval_steps, also from each of its snapshots, into snapshots/step<N>/. Resumes after a kill."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from functools import partial
from pathlib import Path

from conceptbench.diffusion.devices import pick_device
from conceptbench.diffusion.generation import generation_key, make_image_sets
from conceptbench.diffusion.pipelines import load_pipeline
from conceptbench.diffusion.schedulers import use_scheduler
from conceptbench.methods import get_method
from conceptbench.runs import snapshot_folder

log = start_job(snakemake)
p = snakemake.params
g = p.generation


def load(checkpoint, note=None):
    if note:
        log(note)
    if p.method is None:
        pipe = load_pipeline(p.base_model)
    else:
        pipe = get_method(p.method["type"]).load(p.base_model, checkpoint, p.method)
    return use_scheduler(pipe, g["scheduler"]).to(pick_device(p.device))


# (how to load the model, its sets, their sub-folder): a model is loaded only if some of its images are missing.
parts = [(partial(load, snakemake.input.get("checkpoint")), [tuple(s) for s in p.sets], "")]
for step, sets in p.snapshot_sets:
    parts.append((partial(load, Path(snakemake.input.checkpoint) / snapshot_folder(step), f"snapshot at step {step}"),
                  [tuple(s) for s in sets], snapshot_folder(step)))
make_image_sets(snakemake.output[0], parts, key=generation_key(dict(p.items()), list(snakemake.input),
                                                                pick_device(p.device)),
                steps=g["steps"], guidance_scale=g["guidance_scale"], resolution=g["resolution"],
                batch_size=g["batch_size"], log=log)
log(f"-> {snakemake.output[0]}")
