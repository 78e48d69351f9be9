"""Rule extractor_model: save a tiny random-weight feature extractor (plumbing only, numbers mean nothing)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.scoring.extractors import build_tiny_extractor

log = start_job(snakemake)
build_tiny_extractor(snakemake.wildcards.extractor, snakemake.output[0], seed=snakemake.params.seed)
log(f"built tiny random-weight {snakemake.wildcards.extractor} extractor into {snakemake.output[0]}")
