"""The README's tables of a finished run, printed from its results/summary/ (so the README's numbers are a run's):

    python -m conceptbench.report.readme results/summary

The summary (every method, the untrained base model and the reference, mean over concepts with the interval when
there are enough concepts for one) and each method's gain over the base model, for README_METRICS.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from conceptbench.report.tables import comparisons_markdown, summary_table
from conceptbench.runs import BASE_MODEL_METHOD

README_METRICS = ("image_similarity_clip", "image_similarity_dino", "image_kid_inception", "prompt_similarity_clip",
                  "prompt_kid_inception", "class_accuracy_oracle", "context_accuracy_oracle")


def readme_tables(summary_dir: str | Path, metrics=README_METRICS) -> str:
    summary_dir = Path(summary_dir)
    summary = pd.read_csv(summary_dir / "summary.csv", keep_default_na=False, na_values=[""])
    comparisons = pd.read_csv(summary_dir / "comparisons.csv", keep_default_na=False, na_values=[""])
    summary = summary[summary["metric"].isin(metrics)]
    gains = comparisons[comparisons["metric"].isin(metrics) & (comparisons["method_b"] == BASE_MODEL_METHOD)]
    return (summary_table(summary, list(metrics)) + "\nEach method's gain over the untrained base model (paired by "
            "concept):\n\n" + comparisons_markdown(gains))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m conceptbench.report.readme RESULTS_SUMMARY_FOLDER", file=sys.stderr)
        return 2
    print(readme_tables(args[0]), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
