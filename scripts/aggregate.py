"""Rule aggregate: all metric rows in one CSV, the per-method summary with confidence intervals, the paired
comparisons between methods and a Markdown page of both (conceptbench/report/summary.py)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.report.summary import read_tables, summarise, write_summary

log = start_job(snakemake)
p, out = snakemake.params, snakemake.output
result = summarise(read_tables(snakemake.input.tables), own_seeds=p.own_seeds, base_model=p.base_model,
                   provenance=p.provenance)
write_summary(result, table=out.table, summary=out.summary, comparisons=out.comparisons, markdown=out.markdown)
log(f"{len(result.table)} rows -> {out.table}; {len(result.comparisons)} paired comparisons")
