"""Rule aggregate: all metric rows in one CSV and a Markdown table (mean ± std over concepts)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

import pandas as pd

from conceptbench.jobs import start_job
from conceptbench.plots import metrics_markdown

log = start_job(snakemake)
table = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
table = table.sort_values(["concept", "method", "metric"], kind="stable")
table["base_model"] = snakemake.params.base_model  # where the numbers come from, in every row
table.to_csv(snakemake.output.table, index=False)
markdown = metrics_markdown(table)
if snakemake.params.provenance:
    markdown += f"\n\n> Numbers from {snakemake.params.provenance['text']}.\n"
with open(snakemake.output.markdown, "w") as handle:
    handle.write(markdown)
log(f"{len(table)} rows -> {snakemake.output.table}")
