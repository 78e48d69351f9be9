"""Rule scatter: image similarity vs prompt similarity, one colour per method, reference levels drawn."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

import pandas as pd

from conceptbench.report.figures import plane_title, similarity_scatter
from conceptbench.scoring.registry import metric_axes
from conceptbench.scoring.uncertainty import method_rows

log = start_job(snakemake)
x_metric, y_metric = metric_axes()[snakemake.wildcards.family]
title = plane_title(snakemake.wildcards.family, "", snakemake.params.provenance)
# The final artifacts, training seeds pooled (the snapshots are rule tradeoff's).
table = method_rows(pd.read_csv(snakemake.input[0]), snakemake.params.own_seeds)
similarity_scatter(table, x_metric, y_metric,
                   [snakemake.output.png, snakemake.output.svg], title, snakemake.params.error_bars)
log(f"wrote {snakemake.output.png}")
