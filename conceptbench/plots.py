"""Figures and tables of the benchmark: method scatter plots, image grids and a Markdown metrics table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont, ImageOps

from conceptbench.metrics import METRIC_NAMES, REFERENCE_METHOD, biased_by_n, lower_is_better

TIDY_COLUMNS = ("concept", "method", "metric", "value", "n")


def _check_tidy(metrics: pd.DataFrame) -> None:
    missing = [c for c in TIDY_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics frame lacks columns {missing}; expected {list(TIDY_COLUMNS)}")


def _method_order(methods: Sequence[str]) -> list[str]:
    """Methods in order of first appearance, the reference last."""
    order = list(dict.fromkeys(methods))
    if REFERENCE_METHOD in order:
        order.remove(REFERENCE_METHOD)
        order.append(REFERENCE_METHOD)
    return order


def _axis_label(metric: str) -> str:
    better = "lower is better" if lower_is_better(metric) else "higher is better"
    return f"{metric.replace('_', ' ')} ({better})"


# --------------------------------------------------------------------------- scatter


def comparable_reference(metrics: pd.DataFrame, metric: str) -> bool:
    """Whether the reference level of `metric` can be drawn beside the methods: always for the unbiased
    estimators; for FID only where the reference was computed at the methods' n (the targets-vs-targets FID
    compares two halves of the photos, so it never is)."""
    if not biased_by_n(metric):
        return True
    rows = metrics[metrics["metric"] == metric]
    is_ref = rows["method"] == REFERENCE_METHOD
    return set(rows.loc[is_ref, "n"]) == set(rows.loc[~is_ref, "n"])


ERROR_BARS = {"ci": "95% bootstrap CI", "sd": "std over concepts", "se": "standard error over concepts"}


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

    _check_tidy(metrics)
    if not out_paths:
        raise ValueError("similarity_scatter needs at least one output path")
    sub = metrics[metrics["metric"].isin([x_metric, y_metric])]
    # One row per (concept, method) with the x and y values side by side.
    wide = sub.pivot_table(index=["concept", "method"], columns="metric", values="value", aggfunc="mean")
    for m in (x_metric, y_metric):
        if m not in wide.columns:
            raise ValueError(f"metrics frame has no rows for {m!r} (has {sorted(metrics['metric'].unique())})")
    wide = wide.reset_index()
    methods = [m for m in _method_order(metrics["method"]) if m != REFERENCE_METHOD]
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
        from conceptbench.uncertainty import method_summary

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
    ax.set_title(f"{title}\nmean over {n_concepts} concept{'s' if n_concepts != 1 else ''}, "
                 f"bars: {ERROR_BARS[error_bars]}", fontsize=11)
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


# --------------------------------------------------------------------------- trade-off paths


def tradeoff_plot(metrics: pd.DataFrame, x_metric: str, y_metric: str, paths: dict[str, dict[int, str]],
                  out_paths: list[Path], title: str) -> dict[str, list[tuple[int, float, float]]]:
    """Each method's path through the image-vs-prompt plane over training: one point per evaluated step.

    `paths` maps a method to {step: the `method` value of that step's rows in `metrics`} (its snapshots and
    its final artifact). Points are means over concepts with 95% bootstrap intervals (uncertainty.method_summary),
    joined in step order and labelled with their step; the reference levels are dashed as in the scatter.
    Returns the points drawn: {method: [(step, x, y), ...]}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from conceptbench.uncertainty import method_summary

    _check_tidy(metrics)
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
    ax.set_title(f"{title}\nmean over {n_concepts} concept{'s' if n_concepts != 1 else ''}, labels: training step, "
                 "bars: 95% bootstrap CI", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(title="method", fontsize=8, title_fontsize=9, loc="best", framealpha=0.85)
    for path in out_paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return drawn


# --------------------------------------------------------------------------- image grid

GRID_GAP = 4  # pixels between cells and around the edge
GRID_LABEL_WIDTH = 120  # width of the row-label column
GRID_TITLE_LINES = 3  # column titles are wrapped to at most this many lines, then truncated
GRID_FONT_SIZE = 11
_LINE_HEIGHT = GRID_FONT_SIZE + 3


def grid_size(n_rows: int, n_cols: int, thumb: int = 96, footer: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of the picture image_grid draws for this many rows and columns."""
    width = GRID_LABEL_WIDTH + n_cols * (thumb + GRID_GAP) + GRID_GAP
    height = GRID_TITLE_LINES * _LINE_HEIGHT + 2 * GRID_GAP + n_rows * (thumb + GRID_GAP)
    return width, height + (_LINE_HEIGHT + GRID_GAP if footer else 0)


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=GRID_FONT_SIZE)
    except (TypeError, OSError):  # Pillow built without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, font, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap by pixel width; the last line is cut with '...' when the text does not fit."""
    lines: list[str] = []
    current = ""
    for word in _split_long_words(text.split(), font, max_width):
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= max_width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        base = lines[-1]
        while base and font.getlength(base + "...") > max_width:
            base = base[:-1]
        lines[-1] = base.rstrip() + "..."
    return lines


def _split_long_words(words: list[str], font, max_width: int) -> list[str]:
    """Break words wider than a line (method names like 'textual_inversion_sdxl') into pieces that fit."""
    pieces = []
    for word in words:
        while font.getlength(word) > max_width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > max_width:
                cut -= 1
            # Prefer breaking just after a '_' or '-' inside the piece that fits.
            soft = max(word.rfind("_", 0, cut), word.rfind("-", 0, cut))
            if soft > 0:
                cut = soft + 1
            pieces.append(word[:cut])
            word = word[cut:]
        pieces.append(word)
    return pieces


def image_grid(
    rows: list[tuple[str, list[Path | None]]], column_titles: list[str], out_path: Path, thumb: int = 96,
    footer: str | None = None,
) -> None:
    """Write a PNG grid: one row per (label, images) with the label at left, column titles on top.

    Each image is shrunk to fit a thumb x thumb cell (aspect kept, centred); None leaves the cell
    empty (e.g. a set that failed to generate). Long titles are wrapped and then truncated. A `footer`
    (where the images come from) is written under the grid.
    """
    if not rows:
        raise ValueError("image_grid needs at least one row")
    n_cols = len(column_titles)
    for label, paths in rows:
        if len(paths) != n_cols:
            raise ValueError(f"row {label!r} has {len(paths)} images but there are {n_cols} column titles")

    width, height = grid_size(len(rows), n_cols, thumb, footer=bool(footer))
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font()
    top = GRID_TITLE_LINES * _LINE_HEIGHT + 2 * GRID_GAP

    for c, title in enumerate(column_titles):
        x0 = GRID_LABEL_WIDTH + GRID_GAP + c * (thumb + GRID_GAP)
        for i, line in enumerate(_wrap(str(title), font, thumb - GRID_GAP, GRID_TITLE_LINES)):
            draw.text((x0, GRID_GAP + i * _LINE_HEIGHT), line, fill="black", font=font)

    max_label_lines = max(1, thumb // _LINE_HEIGHT)
    for r, (label, paths) in enumerate(rows):
        y0 = top + r * (thumb + GRID_GAP)
        lines = _wrap(str(label), font, GRID_LABEL_WIDTH - 2 * GRID_GAP, max_label_lines)
        y_text = y0 + (thumb - len(lines) * _LINE_HEIGHT) // 2  # vertically centred on the row
        for i, line in enumerate(lines):
            draw.text((GRID_GAP, y_text + i * _LINE_HEIGHT), line, fill="black", font=font)
        for c, path in enumerate(paths):
            x0 = GRID_LABEL_WIDTH + GRID_GAP + c * (thumb + GRID_GAP)
            if path is None:
                draw.rectangle([x0, y0, x0 + thumb - 1, y0 + thumb - 1], outline=(200, 200, 200), fill=(245, 245, 245))
                continue
            with Image.open(path) as im:
                small = ImageOps.contain(im.convert("RGB"), (thumb, thumb))
            canvas.paste(small, (x0 + (thumb - small.width) // 2, y0 + (thumb - small.height) // 2))
    if footer:
        draw.text((GRID_GAP, height - _LINE_HEIGHT - GRID_GAP), footer, fill=(90, 90, 90), font=font)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_path, format="PNG")


# --------------------------------------------------------------------------- Markdown table


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
    _check_tidy(metrics)
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
    for method in _method_order(metrics["method"]):
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
