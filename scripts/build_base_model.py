"""Rule base_model: build a tiny built-in pipeline (builtin:tiny or builtin:tiny-xl), saved with save_pretrained."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.diffusion.tiny import build_base_model

log = start_job(snakemake)
p = snakemake.params
build_base_model(p.kind, snakemake.output[0], seed=p.seed, resolution=p.resolution)
log(f"built {p.kind} into {snakemake.output[0]}")
