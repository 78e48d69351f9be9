"""Rule world_quality: the oracle's verdict on builtin:world's images of world captions, and FID/KID."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.world.quality import run_report

log = start_job(snakemake)
p = snakemake.params
run_report(snakemake.output.markdown, snakemake.output.table, per_caption=p.per_caption, generation=p.generation,
           seed=p.seed, device=p.device, log=log)
