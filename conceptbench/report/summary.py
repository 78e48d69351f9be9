"""What the aggregate rule makes of every run's metric rows: one table of them, the per-method summary with its
intervals, the paired comparisons between methods and a Markdown page of both, over the final artifacts with the
training seeds pooled (conceptbench/runs.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from conceptbench.report.tables import comparisons_markdown, metrics_markdown
from conceptbench.runs import BASE_MODEL_METHOD, REFERENCE_METHOD
from conceptbench.scoring.uncertainty import (
    MIN_CONCEPTS,
    method_rows,
    method_summary,
    paired_comparisons,
    too_few_concepts,
)


@dataclass
class Summary:
    table: pd.DataFrame  # every run's rows (training seeds as <method>@seed<S>, snapshots as ...@step<N>)
    summary: pd.DataFrame  # per method and metric, over concepts
    comparisons: pd.DataFrame  # every pair of methods (the base model one of them) on every metric, by concept
    markdown: str


def read_tables(paths: Sequence[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def summarise(tables: pd.DataFrame, *, own_seeds: dict[str, int], base_model: str,
              provenance: dict | None) -> Summary:
    """`tables`: the metric rows of every run (metrics rule), the reference's and the base model's included."""
    table = tables.sort_values(["concept", "method", "metric"], kind="stable")
    table["base_model"] = base_model  # where the numbers come from, in every row
    pooled = method_rows(table, own_seeds)  # one row per concept x method x metric, seeds pooled; no snapshots
    summary = method_summary(pooled)
    comparisons = paired_comparisons(pooled)
    return Summary(table, summary, comparisons, summary_markdown(pooled, summary, comparisons, provenance))


# The image-axis metrics a concept's novelty is judged on: means of per-image scores, so each has an interval.
NOVELTY_METRICS = ("image_similarity_clip", "image_similarity_dino")


def not_novel(pooled: pd.DataFrame) -> dict[str, list[str]]:
    """Concepts the untrained base model already draws: {concept: metrics on which its base-model row reaches the
    reference (the photos against themselves) within the base model's own interval}."""
    out: dict[str, list[str]] = {}
    rows = pooled[pooled["metric"].isin(NOVELTY_METRICS)]
    for (concept, metric), group in rows.groupby(["concept", "metric"], sort=False):
        by_method = group.set_index("method")
        if BASE_MODEL_METHOD in by_method.index and REFERENCE_METHOD in by_method.index:
            if by_method.loc[BASE_MODEL_METHOD, "ci_high"] >= by_method.loc[REFERENCE_METHOD, "value"]:
                out.setdefault(concept, []).append(metric)
    return out


def summary_markdown(pooled: pd.DataFrame, summary: pd.DataFrame, comparisons: pd.DataFrame,
                     provenance: dict | None) -> str:
    """The page results/summary/metrics.md: the summary table, the paired comparisons, the concepts the base model
    already draws, where the numbers come from."""
    concepts = pooled["concept"].nunique()
    seeds = int(pooled["seeds"].max()) if len(pooled) else 1
    value = f"the mean of its {seeds} training seeds' runs" if seeds > 1 else "its run's"
    interval = (f"95% t interval over concepts; a concept's value is {value}" if concepts >= MIN_CONCEPTS
                else too_few_concepts(concepts))
    markdown = (f"Mean over {concepts} concept{'s' * (concepts != 1)} [{interval}]. `base_model` is the untrained "
                "model on the same prompts with the class noun; `reference` the photos against themselves (image "
                "axis) and the base model against itself (prompt axis).\n\n" + metrics_markdown(pooled, summary))
    if len(comparisons):
        markdown += ("\n## Paired comparisons\n\nPaired by concept: each concept's difference of values (its mean "
                     "over seeds and images); t interval and paired t test over concepts, p adjusted over each "
                     "metric's pairs (Holm).\n\n" + comparisons_markdown(comparisons))
    flagged = not_novel(pooled)
    if flagged:
        markdown += "\n## Not novel to the base model\n\n" + "".join(
            f"- {concept}: the untrained base model reaches the photos' own level on {', '.join(metrics)}\n"
            for concept, metrics in flagged.items())
    if provenance:
        markdown += f"\n> Numbers from {provenance['text']}.\n"
    return markdown


def write_summary(result: Summary, *, table: str, summary: str, comparisons: str, markdown: str) -> None:
    result.table.to_csv(table, index=False)
    result.summary.to_csv(summary, index=False)
    result.comparisons.to_csv(comparisons, index=False)
    with open(markdown, "w") as handle:
        handle.write(result.markdown)
