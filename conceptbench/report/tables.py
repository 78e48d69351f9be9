"""Markdown tables of the tidy metric rows, the summary and the paired comparisons."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from conceptbench.runs import BASE_MODEL_METHOD, REFERENCE_METHOD, split_name
from conceptbench.scoring.registry import METRIC_NAMES

TIDY_COLUMNS = ("concept", "method", "metric", "value", "n")


def check_tidy(metrics: pd.DataFrame) -> None:
    missing = [c for c in TIDY_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics frame lacks columns {missing}; expected {list(TIDY_COLUMNS)}")


def method_order(methods: Sequence[str]) -> list[str]:
    """Methods in order of first appearance, then the untrained base model, the reference last."""
    order = list(dict.fromkeys(methods))
    for last in (BASE_MODEL_METHOD, REFERENCE_METHOD):
        if last in order:
            order.remove(last)
            order.append(last)
    return order


def _decimals(value: float, significant: int = 3) -> int:
    """Decimal places that show `value` to `significant` significant digits (never fewer than 0)."""
    if value == 0 or not np.isfinite(value):
        return significant
    return max(significant - 1 - int(np.floor(np.log10(abs(value)))), 0)


def number(value: float) -> str:
    """A value to 3 significant digits, as every table shows it."""
    return f"{value:.{_decimals(value)}f}"


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
    (uncertainty.method_summary) each cell is the mean over concepts with its 95% interval (the mean alone where
    there are too few concepts for one), else mean ± std over concepts. Means are shown to 3 significant digits
    and the spread to the same decimal places.
    """
    check_tidy(metrics)
    present = list(dict.fromkeys(metrics["metric"]))
    columns = [m for m in METRIC_NAMES if m in present] + sorted(m for m in present if m not in METRIC_NAMES)
    # Average repeated rows of one concept first, so the std is across concepts only.
    per_concept = metrics.groupby(["method", "metric", "concept"], sort=False)["value"].mean()
    cells_by_key = {key: vals for key, vals in per_concept.groupby(level=["method", "metric"], sort=False)}
    if summary is not None:
        return summary_table(summary, columns, method_order(metrics["method"]))
    lines = _header(columns)
    for method in method_order(metrics["method"]):
        cells = [_cell(cells_by_key.get((method, metric), pd.Series(dtype=float))) for metric in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _header(columns: Sequence[str]) -> list[str]:
    return ["| method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]


def summary_table(summary: pd.DataFrame, columns: Sequence[str], methods: Sequence[str] | None = None) -> str:
    """The summary (uncertainty.method_summary) as a Markdown table: one row per method (the base model and the
    reference last), one column per metric, each cell the mean over concepts with its 95% interval."""
    by_key = {(r["method"], r["metric"]): r for _, r in summary.iterrows()}
    lines = _header(columns)
    for method in methods if methods is not None else method_order(summary["method"]):
        cells = [_ci_cell(by_key[(method, m)]) if (method, m) in by_key else "—" for m in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def trade_off_table(summary: pd.DataFrame, columns: Sequence[str]) -> str:
    """summary_table of the methods' snapshots and final artifacts (rows `<method>@step<N>`, then `<method>`), each
    method's in training order: how each metric moves over training."""
    runs = [m for m in dict.fromkeys(summary["method"]) if m not in (BASE_MODEL_METHOD, REFERENCE_METHOD)]
    methods = list(dict.fromkeys(split_name(m)[0] for m in runs))
    order = sorted(runs, key=lambda m: (methods.index(split_name(m)[0]), split_name(m)[2] is None,
                                        split_name(m)[2] or 0))
    return summary_table(summary, columns, methods=order)


def comparisons_markdown(comparisons: pd.DataFrame) -> str:
    """The paired comparisons (uncertainty.paired_comparisons) as a Markdown table, one row per metric x pair."""
    lines = ["| metric | a | b | concepts | mean a - b [95% CI] | p (paired t) | p (Holm) |",
             "|---|---|---|---|---|---|---|"]
    for _, r in comparisons.iterrows():
        d = _decimals(max(abs(r["mean_a"]), abs(r["mean_b"])))
        if np.isfinite(r["ci_low"]):
            difference = f"{r['mean_difference']:+.{d}f} [{r['ci_low']:+.{d}f}, {r['ci_high']:+.{d}f}]"
            p_values = f"{r['p_value']:.2g} | {r['p_holm']:.2g}"
        else:
            difference, p_values = f"{r['mean_difference']:+.{d}f} (no interval)", "— | —"
        lines.append(f"| {r['metric']} | {r['method_a']} | {r['method_b']} | {r['n']} | {difference} | {p_values} |")
    return "\n".join(lines) + "\n"
