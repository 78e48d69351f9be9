"""Rule aggregate: all metric rows in one CSV (every run: training seeds as `<method>@seed<S>`, snapshots as
`...@step<N>`); the per-method summary with confidence intervals, the paired comparisons between methods, and a
Markdown page of both, over the final artifacts with the training seeds pooled (conceptbench/runs.py)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

import pandas as pd

from conceptbench.runs import is_snapshot, method_rows, pool_seeds
from conceptbench.report.tables import comparisons_markdown, metrics_markdown
from conceptbench.scoring.uncertainty import method_summary, paired_comparisons

log = start_job(snakemake)
samples = snakemake.params.bootstrap_samples
table = pd.concat([pd.read_csv(path) for path in snakemake.input.tables], ignore_index=True)
table = table.sort_values(["concept", "method", "metric"], kind="stable")
table["base_model"] = snakemake.params.base_model  # where the numbers come from, in every row
table.to_csv(snakemake.output.table, index=False)

own_seeds = snakemake.params.own_seeds
runs = pool_seeds(table[[not is_snapshot(m) for m in table["method"]]], own_seeds)  # snapshots: rule tradeoff
table = method_rows(table, own_seeds)  # one row per concept x method x metric, training seeds pooled
summary = method_summary(table, samples=samples)
summary.to_csv(snakemake.output.summary, index=False)
scores = pool_seeds(pd.concat([pd.read_csv(path) for path in snakemake.input.scores], ignore_index=True), own_seeds)
comparisons = paired_comparisons(scores, runs, samples=samples)
comparisons.to_csv(snakemake.output.comparisons, index=False)
log(f"{len(table)} rows -> {snakemake.output.table}; {len(comparisons)} paired comparisons")

concepts = table["concept"].nunique()
seeds = int(table["seeds"].max()) if len(table) else 1
noise = f"its {seeds} training seeds' spread" if seeds > 1 else "its generated images resampled"
markdown = (f"Mean over {concepts} concept{'s' * (concepts != 1)}{' and training seeds' * (seeds > 1)} [95% "
            f"bootstrap interval: concepts resampled, each with {noise}; {samples} samples].\n\n"
            + metrics_markdown(table, summary))
if len(comparisons):
    markdown += ("\n## Paired comparisons\n\nMethods share concepts, prompts and seeds: per-image metrics pair image "
                 "by image, FID and KID concept by concept.\n\n" + comparisons_markdown(comparisons))
if snakemake.params.provenance:
    markdown += f"\n> Numbers from {snakemake.params.provenance['text']}.\n"
with open(snakemake.output.markdown, "w") as handle:
    handle.write(markdown)
