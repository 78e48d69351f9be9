"""Rule base_model: build the tiny built-in pipeline and save it with save_pretrained."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

from conceptbench.jobs import start_job
from conceptbench.models import build_tiny_pipeline

log = start_job(snakemake)
build_tiny_pipeline(snakemake.output[0], seed=snakemake.params.seed, resolution=snakemake.params.resolution)
log(f"built builtin:tiny into {snakemake.output[0]}")
