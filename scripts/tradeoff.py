"""Rule tradeoff: each method's path over its eval_steps through the image-vs-prompt similarity plane."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

import pandas as pd

from conceptbench.report.figures import plane_title, tradeoff_plot
from conceptbench.scoring.registry import metric_axes
from conceptbench.scoring.uncertainty import method_rows

log = start_job(snakemake)
x_metric, y_metric = metric_axes()[snakemake.wildcards.family]
title = plane_title(snakemake.wildcards.family, " over training", snakemake.params.provenance)
paths = {method: {int(step): name for step, name in steps.items()} for method, steps in snakemake.params.paths.items()}
table = method_rows(pd.read_csv(snakemake.input[0]), snakemake.params.own_seeds, snapshots=True)
tradeoff_plot(table, x_metric, y_metric, paths, [snakemake.output.png, snakemake.output.svg],
              title)
log(f"wrote {snakemake.output.png}")
