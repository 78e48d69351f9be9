"""Rule aggregate: all metric rows in one CSV (the snapshots' too, as `<method>@step<N>`), the per-method summary
with confidence intervals, the paired comparisons between methods, and a Markdown page of both (final artifacts)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

import pandas as pd

from conceptbench.jobs import start_job
from conceptbench.plan import SNAPSHOT_MARK
from conceptbench.plots import comparisons_markdown, metrics_markdown
from conceptbench.uncertainty import method_summary, paired_comparisons

log = start_job(snakemake)
samples = snakemake.params.bootstrap_samples
table = pd.concat([pd.read_csv(path) for path in snakemake.input.tables], ignore_index=True)
table = table.sort_values(["concept", "method", "metric"], kind="stable")
table["base_model"] = snakemake.params.base_model  # where the numbers come from, in every row
table.to_csv(snakemake.output.table, index=False)
table = table[~table["method"].str.contains(SNAPSHOT_MARK, regex=False)]  # the trade-off plots show the snapshots

summary = method_summary(table, samples=samples)
summary.to_csv(snakemake.output.summary, index=False)
scores = pd.concat([pd.read_csv(path) for path in snakemake.input.scores], ignore_index=True)
comparisons = paired_comparisons(scores, table, samples=samples)
comparisons.to_csv(snakemake.output.comparisons, index=False)
log(f"{len(table)} rows -> {snakemake.output.table}; {len(comparisons)} paired comparisons")

concepts = table["concept"].nunique()
markdown = (f"Mean over {concepts} concept{'s' * (concepts != 1)} [95% bootstrap interval: concepts resampled, each "
            f"with its generated images resampled; {samples} samples].\n\n" + metrics_markdown(table, summary))
if len(comparisons):
    markdown += ("\n## Paired comparisons\n\nMethods share concepts, prompts and seeds: per-image metrics pair image "
                 "by image, FID and KID concept by concept.\n\n" + comparisons_markdown(comparisons))
if snakemake.params.provenance:
    markdown += f"\n> Numbers from {snakemake.params.provenance['text']}.\n"
with open(snakemake.output.markdown, "w") as handle:
    handle.write(markdown)
