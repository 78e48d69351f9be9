"""How sure the numbers are: bootstrap confidence intervals and paired comparisons between methods.

- Within a concept (metrics.csv `ci_low`, `ci_high`): the generated images are a sample; resampling them (per
  prompt, the same images for every extractor) and recomputing every metric gives a percentile interval. The
  target photos stay as they are: the interval is the noise of generation, for these photos.
- Over concepts (summary.csv, the scatter plots' error bars, metrics.md): concepts are resampled, and each drawn
  concept adds its own within-concept noise (normal, with the spread its interval implies), so both sources show.
- Between methods (comparisons.csv): methods see the same concepts, prompts and seeds, so their scores pair up:
  image by image for the per-image metrics, concept by concept for FID and KID. Each pair of methods gets the mean
  difference, its bootstrap interval (units resampled within concepts) and a Wilcoxon signed-rank p-value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

BOOTSTRAP_SAMPLES = 1000
LEVEL = 0.95
_Z = 1.959963984540054  # the normal quantile of LEVEL, two-sided


def percentile_interval(replicates, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` interval of the bootstrap replicates (NaN where there are none)."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


# ---- within a concept ---------------------------------------------------------------------------------------


def resample_images(rng: np.random.Generator, feats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One set of images seen by several extractors: draw its rows with replacement, the same rows for all."""
    n = len(next(iter(feats.values())))
    rows = rng.integers(0, n, n)
    return {ex: np.asarray(f)[rows] for ex, f in feats.items()}


def resample_prompts(rng: np.random.Generator, feats: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """Per-prompt image sets ({extractor: {prompt: rows}}): each prompt's images resampled on their own."""
    extractors = list(feats)
    out: dict[str, dict[str, np.ndarray]] = {ex: {} for ex in extractors}
    for pid in feats[extractors[0]]:
        drawn = resample_images(rng, {ex: feats[ex][pid] for ex in extractors})
        for ex in extractors:
            out[ex][pid] = drawn[ex]
    return out


def draw_rows(rng: np.random.Generator, sizes: Mapping[str, int], samples: int) -> dict[str, np.ndarray]:
    """Rows drawn with replacement for `samples` replicates of several image sets ({set: n} -> {set: samples x n}):
    per replicate, set after set in the order of `sizes`, the draws resample_images / resample_prompts make."""
    rows = {name: np.empty((samples, n), dtype=np.int64) for name, n in sizes.items()}
    for b in range(samples):
        for name, n in sizes.items():
            rows[name][b] = rng.integers(0, n, n)
    return rows


def with_intervals(rows: list[dict], replicates: Mapping[str, np.ndarray]) -> list[dict]:
    """`rows` (tidy metric rows) with `ci_low` and `ci_high`: the percentile interval of each metric's bootstrap
    replicates; NaN for a metric without replicates (nothing resampled)."""
    out = []
    for row in rows:
        draws = replicates.get(row["metric"], [])
        low, high = percentile_interval(draws)
        out.append({**row, "ci_low": low, "ci_high": high})
    return out


def with_bootstrap_intervals(rows: list[dict], replicate: Callable[[np.random.Generator], list[dict]],
                             samples: int = BOOTSTRAP_SAMPLES, seed: int = 0,
                             fixed: Callable[[str], bool] = lambda metric: False) -> list[dict]:
    """with_intervals from `samples` calls of `replicate(rng)`, which recomputes the rows on resampled images.
    Metrics for which `fixed(metric)` is true have nothing resampled (NaN interval). The workflow computes all
    replicates at once instead (conceptbench.scoring.replicates); this loop is the plain definition."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {row["metric"]: [] for row in rows if not fixed(row["metric"])}
    for _ in range(samples):
        for row in replicate(rng):
            if row["metric"] in draws:
                draws[row["metric"]].append(row["value"])
    return with_intervals(rows, draws)


# ---- over concepts --------------------------------------------------------------------------------------------


def method_summary(metrics: pd.DataFrame, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per method and metric: the mean over concepts, its interval (concepts resampled, each with its own
    within-concept noise), the std over concepts and the number of concepts."""
    rng = np.random.default_rng(seed)
    out = []
    for (method, metric), group in metrics.groupby(["method", "metric"], sort=False):
        group = group.dropna(subset=["value"])
        if group.empty:
            continue
        values = group["value"].to_numpy(dtype=np.float64)
        spread = ((group["ci_high"] - group["ci_low"]) / (2 * _Z)).fillna(0.0).to_numpy() \
            if "ci_low" in group else np.zeros(len(group))
        if len(group) == 1 and "ci_low" in group:
            low, high = float(group["ci_low"].iloc[0]), float(group["ci_high"].iloc[0])
        else:
            picks = rng.integers(0, len(values), (samples, len(values)))
            noisy = values[picks] + spread[picks] * rng.standard_normal(picks.shape)
            low, high = percentile_interval(noisy.mean(axis=1))
        out.append({"method": method, "metric": metric, "mean": float(values.mean()), "ci_low": low,
                    "ci_high": high, "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                    "concepts": len(values)})
    return pd.DataFrame(out, columns=["method", "metric", "mean", "ci_low", "ci_high", "std", "concepts"])


# ---- between methods ------------------------------------------------------------------------------------------

COMPARISON_COLUMNS = ["metric", "method_a", "method_b", "unit", "n", "mean_a", "mean_b", "mean_difference",
                      "ci_low", "ci_high", "p_wilcoxon"]


def _wilcoxon_p(differences: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    if np.allclose(differences, 0.0):
        return 1.0  # identical scores: no evidence of any difference
    return float(wilcoxon(differences).pvalue)


def _difference_interval(differences: np.ndarray, strata: np.ndarray, rng, samples: int) -> tuple[float, float]:
    """Bootstrap interval of the mean difference, units resampled within each stratum (concept). With one unit
    per stratum (FID, KID: one number per concept) that would draw the same sample every time and give an interval
    of zero width: the concepts themselves are resampled instead."""
    if len(np.unique(strata)) == len(strata):
        strata = np.zeros(len(strata))
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    means = np.empty(samples)
    for b in range(samples):
        drawn = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        means[b] = differences[drawn].mean()
    return percentile_interval(means)


def paired_comparisons(scores: pd.DataFrame, metrics: pd.DataFrame, samples: int = BOOTSTRAP_SAMPLES,
                       seed: int = 0) -> pd.DataFrame:
    """Every pair of methods on every metric, paired by what they share.

    `scores`: per-image rows (concept, method, metric, prompt, image, value) of the per-image metrics; they pair
    by (concept, prompt, image), i.e. the same prompt and seed. `metrics`: the tidy per-concept rows; metrics
    without per-image scores (FID, KID) pair by concept. With a `seed` column (training seeds, runs.pool_seeds)
    the pairs are also of the same training seed. The reference is not a method and is left out.
    """
    from conceptbench.runs import REFERENCE_METHOD
    from conceptbench.scoring.registry import is_per_image

    rng = np.random.default_rng(seed)
    # An empty table (the reference's scores) read beside others leaves the column as objects.
    scores = scores.astype({"value": np.float64})
    methods = [m for m in dict.fromkeys(metrics["method"]) if m != REFERENCE_METHOD]
    out = []
    for metric in dict.fromkeys(metrics["metric"]):
        if is_per_image(metric) and not scores.empty:
            unit, keys = "image", ["concept", *(["seed"] if "seed" in scores else []), "prompt", "image"]
            table = scores[scores["metric"] == metric].pivot_table(index=keys, columns="method", values="value")
        else:
            unit, keys = "concept", ["concept", *(["seed"] if "seed" in metrics else [])]
            table = metrics[metrics["metric"] == metric].pivot_table(index=keys, columns="method", values="value")
        for i, a in enumerate(methods):
            for b in methods[i + 1:]:
                if a not in table or b not in table:
                    continue
                pair = table[[a, b]].dropna()
                if pair.empty:
                    continue
                differences = (pair[a] - pair[b]).to_numpy(dtype=np.float64)
                strata = pair.index.get_level_values("concept").to_numpy()
                low, high = _difference_interval(differences, strata, rng, samples)
                out.append({"metric": metric, "method_a": a, "method_b": b, "unit": unit, "n": len(pair),
                            "mean_a": float(pair[a].mean()), "mean_b": float(pair[b].mean()),
                            "mean_difference": float(differences.mean()), "ci_low": low, "ci_high": high,
                            "p_wilcoxon": _wilcoxon_p(differences)})
    return pd.DataFrame(out, columns=COMPARISON_COLUMNS)
