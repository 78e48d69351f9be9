"""What the aggregate rule makes of every run's metric rows: one table of them, the per-method summary with its
intervals, the paired comparisons between methods and a Markdown page of both, over the final artifacts with the
training seeds pooled (conceptbench/runs.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from conceptbench.report.tables import comparisons_markdown, metrics_markdown
from conceptbench.runs import is_snapshot, method_rows, pool_seeds
from conceptbench.scoring.uncertainty import method_summary, paired_comparisons


@dataclass
class Summary:
    table: pd.DataFrame  # every run's rows (training seeds as <method>@seed<S>, snapshots as ...@step<N>)
    summary: pd.DataFrame  # per method and metric, over concepts
    comparisons: pd.DataFrame  # every pair of methods on every metric
    markdown: str


def read_tables(paths: Sequence[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def summarise(tables: pd.DataFrame, scores: pd.DataFrame, *, own_seeds: dict[str, int], base_model: str,
              samples: int, provenance: dict | None) -> Summary:
    """`tables`: the metric rows of every run (metrics rule); `scores`: their per-image scores."""
    table = tables.sort_values(["concept", "method", "metric"], kind="stable")
    table["base_model"] = base_model  # where the numbers come from, in every row
    runs = pool_seeds(table[[not is_snapshot(m) for m in table["method"]]], own_seeds)  # snapshots: rule tradeoff
    pooled = method_rows(table, own_seeds)  # one row per concept x method x metric, training seeds pooled
    summary = method_summary(pooled, samples=samples)
    comparisons = paired_comparisons(pool_seeds(scores, own_seeds), runs, samples=samples)
    return Summary(table, summary, comparisons, summary_markdown(pooled, summary, comparisons, samples, provenance))


def summary_markdown(pooled: pd.DataFrame, summary: pd.DataFrame, comparisons: pd.DataFrame, samples: int,
                     provenance: dict | None) -> str:
    """The page results/summary/metrics.md: the summary table, the paired comparisons, where the numbers come from."""
    concepts = pooled["concept"].nunique()
    seeds = int(pooled["seeds"].max()) if len(pooled) else 1
    noise = f"its {seeds} training seeds' spread" if seeds > 1 else "its generated images resampled"
    markdown = (f"Mean over {concepts} concept{'s' * (concepts != 1)}{' and training seeds' * (seeds > 1)} [95% "
                f"bootstrap interval: concepts resampled, each with {noise}; {samples} samples].\n\n"
                + metrics_markdown(pooled, summary))
    if len(comparisons):
        markdown += ("\n## Paired comparisons\n\nMethods share concepts, prompts and seeds: per-image metrics pair "
                     "image by image, FID and KID concept by concept.\n\n" + comparisons_markdown(comparisons))
    if provenance:
        markdown += f"\n> Numbers from {provenance['text']}.\n"
    return markdown


def write_summary(result: Summary, *, table: str, summary: str, comparisons: str, markdown: str) -> None:
    result.table.to_csv(table, index=False)
    result.summary.to_csv(summary, index=False)
    result.comparisons.to_csv(comparisons, index=False)
    with open(markdown, "w") as handle:
        handle.write(result.markdown)
