"""Figures: the image-vs-prompt scatter per metric family, and each method's path over training (trade-off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from conceptbench.report.tables import check_tidy, method_order
from conceptbench.runs import REFERENCE_METHOD
from conceptbench.scoring.registry import biased_by_n, lower_is_better
from conceptbench.scoring.uncertainty import MIN_CONCEPTS


def _axis_label(metric: str) -> str:
    better = "lower is better" if lower_is_better(metric) else "higher is better"
    return f"{metric.replace('_', ' ')} ({better})"


def comparable_reference(metrics: pd.DataFrame, metric: str) -> bool:
    """Whether the reference level of `metric` can be drawn beside the methods: always for the unbiased
    estimators; for FID only where the reference was computed at the methods' n (the targets-vs-targets FID
    compares two halves of the photos, so it never is)."""
    if not biased_by_n(metric):
        return True
    rows = metrics[metrics["metric"] == metric]
    is_ref = rows["method"] == REFERENCE_METHOD
    return set(rows.loc[is_ref, "n"]) == set(rows.loc[~is_ref, "n"])


ERROR_BARS = {"ci": "95% t interval over concepts", "sd": "std over concepts", "se": "standard error over concepts"}


def _error_bar(values: pd.Series, summary_row: pd.Series | None, kind: str):
    """The error bar of one method on one axis: asymmetric [[below], [above]] for a CI, else a half width."""
    if kind == "ci":
        if summary_row is None or not np.isfinite(summary_row["ci_low"]):
            return 0.0
        mean = values.mean()
        return [[max(mean - summary_row["ci_low"], 0.0)], [max(summary_row["ci_high"] - mean, 0.0)]]
    if len(values) < 2:  # the spread of one concept is undefined: no bar rather than NaN
        return 0.0
    return values.std() / (np.sqrt(len(values)) if kind == "se" else 1.0)


def plane_title(family: str, what: str, provenance: dict | None) -> str:
    """'CLIP: image vs prompt similarity<what>', with the provenance label on a second line when there is one."""
    title = f"{family.upper()}: image vs prompt similarity{what}"
    return f"{title}\n({provenance['label']})" if provenance else title


def similarity_scatter(
    metrics: pd.DataFrame, x_metric: str, y_metric: str, out_paths: list[Path], title: str, error_bars: str = "sd"
) -> None:
    """Scatter of methods by image fidelity (x) against prompt fidelity (y), written to every path.

    Each method is a marker at its mean over concepts with error bars (`error_bars`, see ERROR_BARS; "ci" needs
    the rows' within-concept `ci_low`, `ci_high`), over faint per-concept points. The reference method is drawn
    as dashed lines (targets vs targets in x, base vs base in y) rather than a point, since it marks what real
    data scores; a FID reference computed at another n than the methods' is left out (see comparable_reference).
    """
    # Imported here: matplotlib and seaborn cost ~2.5 s, and only the scatter rule draws with them.
    import matplotlib

    matplotlib.use("Agg")  # headless: the workflow runs on cluster nodes without a display
    import matplotlib.pyplot as plt
    import seaborn as sns

    check_tidy(metrics)
    if not out_paths:
        raise ValueError("similarity_scatter needs at least one output path")
    sub = metrics[metrics["metric"].isin([x_metric, y_metric])]
    # One row per (concept, method) with the x and y values side by side.
    wide = sub.pivot_table(index=["concept", "method"], columns="metric", values="value", aggfunc="mean")
    for m in (x_metric, y_metric):
        if m not in wide.columns:
            raise ValueError(f"metrics frame has no rows for {m!r} (has {sorted(metrics['metric'].unique())})")
    wide = wide.reset_index()
    methods = [m for m in method_order(metrics["method"]) if m != REFERENCE_METHOD]
    points = wide[wide["method"] != REFERENCE_METHOD].dropna(subset=[x_metric, y_metric])
    if points.empty:
        raise ValueError(f"no method has both {x_metric!r} and {y_metric!r}")
    methods = [m for m in methods if m in set(points["method"])]

    colours = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    fig, ax = plt.subplots(figsize=(6.4, 5.0), layout="constrained")

    if error_bars not in ERROR_BARS:
        raise ValueError(f"error_bars must be one of {list(ERROR_BARS)}, got {error_bars!r}")
    summary = None
    if error_bars == "ci":
        from conceptbench.scoring.uncertainty import method_summary

        summary = method_summary(sub).set_index(["method", "metric"])
    for method in methods:
        pts = points[points["method"] == method]
        ax.scatter(pts[x_metric], pts[y_metric], color=colours[method], alpha=0.25, s=18, linewidths=0)
        xerr, yerr = (_error_bar(pts[m], None if summary is None else summary.loc[(method, m)], error_bars)
                      for m in (x_metric, y_metric))
        ax.errorbar(
            pts[x_metric].mean(), pts[y_metric].mean(), xerr=xerr, yerr=yerr,
            fmt="o", ms=8, color=colours[method], ecolor=colours[method], elinewidth=1.2, capsize=3,
            markeredgecolor="black", markeredgewidth=0.6, label=method,
        )

    _reference_lines(ax, wide, sub, x_metric, y_metric)
    n_concepts = points["concept"].nunique()
    ax.set_xlabel(_axis_label(x_metric))
    ax.set_ylabel(_axis_label(y_metric))
    bars = ERROR_BARS[error_bars] if error_bars != "ci" or n_concepts >= MIN_CONCEPTS else "none (too few concepts)"
    ax.set_title(f"{title}\nmean over {n_concepts} concept{'s' if n_concepts != 1 else ''}, bars: {bars}",
                 fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(title="method", fontsize=8, title_fontsize=9, loc="best", framealpha=0.85)

    for path in out_paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    plt.close(fig)


def _reference_lines(ax, wide: pd.DataFrame, sub: pd.DataFrame, x_metric: str, y_metric: str) -> None:
    """The reference levels as dashed lines: targets vs targets in x, base vs base in y (where comparable)."""
    ref = wide[wide["method"] == REFERENCE_METHOD]
    ref_style = dict(color="0.35", linestyle="--", linewidth=1.0, zorder=0)
    if not ref.empty and comparable_reference(sub, x_metric) and ref[x_metric].notna().any():
        x_ref = ref[x_metric].mean()
        ax.axvline(x_ref, **ref_style)
        ax.annotate("targets vs targets", xy=(x_ref, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -3), textcoords="offset points", rotation=90, ha="left", va="top",
                    fontsize=8, color="0.35")
    if not ref.empty and comparable_reference(sub, y_metric) and ref[y_metric].notna().any():
        y_ref = ref[y_metric].mean()
        ax.axhline(y_ref, **ref_style)
        ax.annotate("base vs base", xy=(0.0, y_ref), xycoords=("axes fraction", "data"),
                    xytext=(3, 3), textcoords="offset points", ha="left", va="bottom",
                    fontsize=8, color="0.35")


def tradeoff_plot(metrics: pd.DataFrame, x_metric: str, y_metric: str, paths: dict[str, dict[int, str]],
                  out_paths: list[Path], title: str) -> dict[str, list[tuple[int, float, float]]]:
    """Each method's path through the image-vs-prompt plane over training: one point per evaluated step.

    `paths` maps a method to {step: the `method` value of that step's rows in `metrics`} (its snapshots and
    its final artifact). Points are means over concepts with 95% t intervals over concepts (uncertainty.method_summary),
    joined in step order and labelled with their step; the reference levels are dashed as in the scatter.
    Returns the points drawn: {method: [(step, x, y), ...]}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from conceptbench.scoring.uncertainty import method_summary

    check_tidy(metrics)
    sub = metrics[metrics["metric"].isin([x_metric, y_metric])]
    summary = method_summary(sub).set_index(["method", "metric"])
    colours = dict(zip(paths, sns.color_palette("colorblind", len(paths))))
    fig, ax = plt.subplots(figsize=(6.4, 5.0), layout="constrained")
    drawn = {}
    for method, by_step in paths.items():
        steps = [s for s in sorted(by_step) if all((by_step[s], m) in summary.index for m in (x_metric, y_metric))]
        if not steps:
            continue
        rows = {m: [summary.loc[(by_step[s], m)] for s in steps] for m in (x_metric, y_metric)}
        x, y = (np.array([r["mean"] for r in rows[m]]) for m in (x_metric, y_metric))
        err = {m: np.array([[max(r["mean"] - r["ci_low"], 0.0) for r in rows[m]],
                            [max(r["ci_high"] - r["mean"], 0.0) for r in rows[m]]]) for m in (x_metric, y_metric)}
        ax.errorbar(x, y, xerr=np.nan_to_num(err[x_metric]), yerr=np.nan_to_num(err[y_metric]), fmt="-o", ms=6,
                    color=colours[method], elinewidth=0.8, capsize=2, markeredgecolor="black", markeredgewidth=0.5,
                    label=method)
        drawn[method] = list(zip(steps, x.tolist(), y.tolist()))
        for xi, yi, step in zip(x, y, steps):
            ax.annotate(str(step), (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=7,
                        color=colours[method])
    if not drawn:
        raise ValueError(f"no method has {x_metric!r} and {y_metric!r} rows at its evaluated steps")
    wide = sub.pivot_table(index=["concept", "method"], columns="metric", values="value", aggfunc="mean")
    _reference_lines(ax, wide.reset_index(), sub, x_metric, y_metric)
    n_concepts = sub["concept"].nunique()
    ax.set_xlabel(_axis_label(x_metric))
    ax.set_ylabel(_axis_label(y_metric))
    bars = ERROR_BARS["ci"] if n_concepts >= MIN_CONCEPTS else "none (too few concepts)"
    ax.set_title(f"{title}\nmean over {n_concepts} concept{'s' if n_concepts != 1 else ''}, labels: training step, "
                 f"bars: {bars}", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(title="method", fontsize=8, title_fontsize=9, loc="best", framealpha=0.85)
    for path in out_paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return drawn
