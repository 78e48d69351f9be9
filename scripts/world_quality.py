"""Rule world_quality: the oracle's verdict on builtin:world's images of world captions, and FID/KID."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.world_models.quality import run_report

log = start_job(snakemake)
p = snakemake.params
run_report(snakemake.output.markdown, snakemake.output.table, per_caption=p.per_caption, generation=p.generation,
           seed=p.seed, device=p.device, log=log)
