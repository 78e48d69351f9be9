"""The README's tables of a finished run, printed from its results/summary/ (so the README's numbers are a run's):

    python -m conceptbench.report.readme results/summary

The summary (every method, the untrained base model and the reference, mean over concepts with the interval when
there are enough concepts for one), each method's gain over the base model, for README_METRICS, per concept
whether it is new to the base model (report/summary.py, not_novel), and each method's snapshots against its final
weights (the numbers of the trade-off plots).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from conceptbench.report.summary import NOVELTY_METRICS, not_novel
from conceptbench.report.tables import comparisons_markdown, number, summary_table, trade_off_table
from conceptbench.runs import BASE_MODEL_METHOD, REFERENCE_METHOD
from conceptbench.scoring.uncertainty import method_rows, method_summary

TRADE_OFF_METRICS = ("image_similarity_clip", "image_similarity_dino", "prompt_similarity_clip")
README_METRICS = ("image_similarity_clip", "image_similarity_dino", "image_kid_inception", "prompt_similarity_clip",
                  "prompt_kid_inception", "class_accuracy_oracle", "context_accuracy_oracle")


def readme_tables(summary_dir: str | Path, metrics=README_METRICS) -> str:
    summary_dir = Path(summary_dir)
    summary = pd.read_csv(summary_dir / "summary.csv", keep_default_na=False, na_values=[""])
    comparisons = pd.read_csv(summary_dir / "comparisons.csv", keep_default_na=False, na_values=[""])
    summary = summary[summary["metric"].isin(metrics)]
    gains = comparisons[comparisons["metric"].isin(metrics) & (comparisons["method_b"] == BASE_MODEL_METHOD)]
    table = pd.read_csv(summary_dir / "metrics.csv")
    return (summary_table(summary, list(metrics)) + "\nEach method's gain over the untrained base model (paired by "
            "concept):\n\n" + comparisons_markdown(gains) + "\nIs each concept new to the base model?\n\n"
            + novelty_table(table) + "\nOver training: each method's snapshot (`<method>@step<N>`) and final "
            "weights:\n\n" + over_training(table))


def over_training(table: pd.DataFrame) -> str:
    """The trade-off plots' numbers: each method at its snapshots and at the end, mean over concepts."""
    pooled = method_rows(table, {}, snapshots=True)
    return trade_off_table(method_summary(pooled[pooled["metric"].isin(TRADE_OFF_METRICS)]), TRADE_OFF_METRICS)


def novelty_table(table: pd.DataFrame) -> str:
    """Per concept and novelty metric: the base model's value with its interval, the photos' own level, and whether
    the base model reaches it (not new)."""
    rows = table[table["metric"].isin(NOVELTY_METRICS) & table["method"].isin([BASE_MODEL_METHOD, REFERENCE_METHOD])]
    flagged = not_novel(rows)
    lines = ["| concept | metric | base model [95% CI] | photos vs photos | new to the base model |",
             "|---|---|---|---|---|"]
    for (concept, metric), group in rows.groupby(["concept", "metric"], sort=False):
        base = group[group["method"] == BASE_MODEL_METHOD].iloc[0]
        reference = group[group["method"] == REFERENCE_METHOD].iloc[0]
        new = "no" if metric in flagged.get(concept, []) else "yes"
        lines.append(f"| {concept} | {metric} | {number(base['value'])} [{number(base['ci_low'])}, "
                     f"{number(base['ci_high'])}] | {number(reference['value'])} | {new} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m conceptbench.report.readme RESULTS_SUMMARY_FOLDER", file=sys.stderr)
        return 2
    print(readme_tables(args[0]), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
