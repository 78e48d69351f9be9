"""Markdown tables of the tidy metric rows, the summary and the paired comparisons."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from conceptbench.runs import REFERENCE_METHOD
from conceptbench.scoring.registry import METRIC_NAMES

TIDY_COLUMNS = ("concept", "method", "metric", "value", "n")


def check_tidy(metrics: pd.DataFrame) -> None:
    missing = [c for c in TIDY_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics frame lacks columns {missing}; expected {list(TIDY_COLUMNS)}")


def method_order(methods: Sequence[str]) -> list[str]:
    """Methods in order of first appearance, the reference last."""
    order = list(dict.fromkeys(methods))
    if REFERENCE_METHOD in order:
        order.remove(REFERENCE_METHOD)
        order.append(REFERENCE_METHOD)
    return order


def _decimals(value: float, significant: int = 3) -> int:
    """Decimal places that show `value` to `significant` significant digits (never fewer than 0)."""
    if value == 0 or not np.isfinite(value):
        return significant
    return max(significant - 1 - int(np.floor(np.log10(abs(value)))), 0)


def _cell(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    mean = float(values.mean())
    d = _decimals(mean)
    if len(values) < 2:  # no spread with a single concept
        return f"{mean:.{d}f}"
    return f"{mean:.{d}f} ± {float(values.std()):.{d}f}"


def _ci_cell(row) -> str:
    d = _decimals(row["mean"])
    if not np.isfinite(row["ci_low"]):
        return f"{row['mean']:.{d}f}"
    return f"{row['mean']:.{d}f} [{row['ci_low']:.{d}f}, {row['ci_high']:.{d}f}]"


def metrics_markdown(metrics: pd.DataFrame, summary: pd.DataFrame | None = None) -> str:
    """Markdown table: one row per method (reference last), one column per metric. With `summary`
    (uncertainty.method_summary) each cell is the mean over concepts with its 95% interval, else mean ± std over
    concepts. Means are shown to 3 significant digits and the spread to the same decimal places.
    """
    check_tidy(metrics)
    present = list(dict.fromkeys(metrics["metric"]))
    columns = [m for m in METRIC_NAMES if m in present] + sorted(m for m in present if m not in METRIC_NAMES)
    # Average repeated rows of one concept first, so the std is across concepts only.
    per_concept = metrics.groupby(["method", "metric", "concept"], sort=False)["value"].mean()
    cells_by_key = {key: vals for key, vals in per_concept.groupby(level=["method", "metric"], sort=False)}
    summary_by_key = {} if summary is None else {(r["method"], r["metric"]): r for _, r in summary.iterrows()}
    lines = [
        "| method | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for method in method_order(metrics["method"]):
        if summary is None:
            cells = [_cell(cells_by_key.get((method, metric), pd.Series(dtype=float))) for metric in columns]
        else:
            cells = [_ci_cell(summary_by_key[(method, m)]) if (method, m) in summary_by_key else "—" for m in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparisons_markdown(comparisons: pd.DataFrame) -> str:
    """The paired comparisons (uncertainty.paired_comparisons) as a Markdown table, one row per metric x pair."""
    lines = ["| metric | a | b | paired by | n | mean a - b [95% CI] | Wilcoxon p |", "|---|---|---|---|---|---|---|"]
    for _, r in comparisons.iterrows():
        d = _decimals(max(abs(r["mean_a"]), abs(r["mean_b"])))
        lines.append(f"| {r['metric']} | {r['method_a']} | {r['method_b']} | {r['unit']} | {r['n']} | "
                     f"{r['mean_difference']:+.{d}f} [{r['ci_low']:+.{d}f}, {r['ci_high']:+.{d}f}] | "
                     f"{r['p_wilcoxon']:.2g} |")
    return "\n".join(lines) + "\n"
