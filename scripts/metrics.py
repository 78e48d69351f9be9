"""Rule metrics: tidy scores for one concept x method with their intervals (also for each of its snapshots, as
method `<method>@step<N>`), and each image's own score; or the reference levels and the untrained base model
(job `_reference`)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.scoring.job import score_concept, write_tables

log = start_job(snakemake)
p, inp = snakemake.params, snakemake.input
rows, scores = score_concept(
    concept=snakemake.wildcards.concept, method=snakemake.wildcards.method, extractors=p.extractors,
    metrics=p.metrics, context_ids=p.context_ids, target_files=inp.targets, baseline_files=inp.baselines,
    text_files=inp.text, image_files=inp.get("images", []), eval_steps=p.eval_steps, snapshot_metrics=p.snapshot_metrics,
    oracle=p.oracle,
    reference=p.reference, set_size=p.set_size)
write_tables(rows, scores, snakemake.output.table, snakemake.output.scores)
log(f"{len(rows)} metric rows -> {snakemake.output.table}, {len(scores)} per-image scores -> {snakemake.output.scores}")
