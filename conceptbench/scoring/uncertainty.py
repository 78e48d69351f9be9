"""How sure the numbers are. The statistical model: a method's score on a metric is the mean over concepts of its
per-concept values; a concept's value is the mean over its training seeds of each run's score; a run's score is
a mean over its generated images (or, for FID and KID, one statistic of the whole set). The units of replication
are nested: concepts (drawn from the concepts a user could bring), training seeds within a concept, images within
a run. Every interval is a Student t interval over the units of its own level, because the mean of the units one
level down already carries all the noise below it:

- A run (metrics.csv `ci_low`, `ci_high`): for a mean of per-image scores, the t interval of that mean over its
  images (per prompt, Welch-Satterthwaite degrees of freedom): the noise of generation, for this trained model and
  these photos. FID and KID are one statistic of a set: resampling its images would duplicate some, which inflates
  both, so a run's FID and KID get no interval; their noise is in the spread over seeds and concepts.
- A concept (seeds pooled, seed_means): the t interval over its training seeds (with one seed, the run's).
- A method (summary.csv, the scatter plots' error bars, metrics.md): the t interval over concepts.
- Between methods (comparisons.csv): the same concepts, so the per-concept differences pair up; their mean, its t
  interval and a paired t test over concepts, with Holm's adjustment over the pairs of methods of each metric.

A t interval over units needs enough of them to mean anything: with fewer than MIN_CONCEPTS concepts the summary
and the comparisons print no interval and no p-value, and say so (`note`). Over images and seeds a t interval is
exact for normal scores at any n >= 2. tests/unit/scoring/test_coverage.py simulates the whole design (concept,
seed and image spreads as measured on the world) and checks that every interval covers its truth at 95%.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from conceptbench.runs import BASE_MODEL_METHOD, REFERENCE_METHOD, is_snapshot, pool_seeds

LEVEL = 0.95
MIN_CONCEPTS = 3  # fewer concepts: no interval, no test


def too_few_concepts(n: int) -> str:
    return f"n = {n} concept{'s' * (n != 1)}: no interval or test (at least {MIN_CONCEPTS} needed)"


def t_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """The t interval of the mean of `values` (units of one level); NaN for fewer than 2."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float("nan"), float("nan")
    mean = float(values.mean())
    half = stats.t.ppf(0.5 + level / 2, values.size - 1) * float(values.std(ddof=1)) / np.sqrt(values.size)
    return mean - half, mean + half


def run_interval(sets: Mapping[str, np.ndarray], pooled: bool, level: float = LEVEL) -> tuple[float, float]:
    """The t interval of a run's score from its per-image scores, one array per image set (prompt).

    The score is the mean over sets of the set means (`pooled` False: every prompt counts the same) or the mean
    over all images (`pooled` True). Its variance is the sum of the sets' (weight^2 s^2 / n); the degrees of
    freedom are Welch-Satterthwaite's. Sets of one image carry no spread: the interval is then NaN.
    """
    arrays = [np.asarray(values, dtype=np.float64) for values in sets.values()]
    sizes = np.array([len(a) for a in arrays], dtype=np.float64)
    if not arrays or (sizes < 2).any():
        return float("nan"), float("nan")
    weights = sizes / sizes.sum() if pooled else np.full(len(arrays), 1 / len(arrays))
    estimate = float(sum(w * a.mean() for w, a in zip(weights, arrays)))
    parts = np.array([w * w * a.var(ddof=1) / len(a) for w, a in zip(weights, arrays)])
    variance = parts.sum()
    if variance == 0:
        return estimate, estimate
    df = variance ** 2 / np.sum(parts ** 2 / (sizes - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * np.sqrt(variance)
    return estimate - half, estimate + half


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries are left out of the family, and stay NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    present = np.flatnonzero(np.isfinite(p))
    order = present[np.argsort(p[present], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        out[index] = running
    return out


# ---- over training seeds: one row per concept and method --------------------------------------------------------


def seed_means(metrics: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """One row per concept x method x metric from rows per seed (runs.pool_seeds' output): the mean over training
    seeds, the concept's value.

    With one seed the row is the run's. With k >= 2 seeds the interval is the t interval over the seeds: each seed's
    value carries its own generation noise, so their spread holds training and generation noise alike (wide at few
    seeds, as it should be). `n` stays a run's (FID compares only at one n); `seeds` counts the runs.
    """
    rows = []
    for (concept, method, metric), group in metrics.groupby(["concept", "method", "metric"], sort=False):
        values = group["value"].astype(float)
        row = {"concept": concept, "method": method, "metric": metric, "value": float(values.mean()),
               "n": int(group["n"].max()), "seeds": len(group)}
        if len(group) == 1:
            row.update(ci_low=float(group["ci_low"].iloc[0]), ci_high=float(group["ci_high"].iloc[0]))
        else:
            low, high = t_interval(values, level)
            row.update(ci_low=low, ci_high=high)
        rows.append(row)
    return pd.DataFrame(rows, columns=["concept", "method", "metric", "value", "n", "ci_low", "ci_high", "seeds"])


def method_rows(table: pd.DataFrame, own_seeds: dict[str, int], snapshots: bool = False) -> pd.DataFrame:
    """metrics.csv's rows of runs as one row per concept x method x metric, seeds pooled (seed_means): the final
    artifacts only, or with `snapshots` their snapshots too."""
    pooled = pool_seeds(table, own_seeds)
    if not snapshots:
        pooled = pooled[[not is_snapshot(m) for m in pooled["method"]]]
    return seed_means(pooled)


# ---- over concepts -------------------------------------------------------------------------------------------

SUMMARY_COLUMNS = ["method", "metric", "mean", "ci_low", "ci_high", "std", "concepts", "note"]


def method_summary(metrics: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per method and metric (rows: one per concept, seeds pooled): the mean over concepts, its t interval over
    concepts, the std over concepts and the number of concepts; no interval below MIN_CONCEPTS."""
    out = []
    for (method, metric), group in metrics.groupby(["method", "metric"], sort=False):
        values = group["value"].dropna().to_numpy(dtype=np.float64)
        if values.size == 0:
            continue
        enough = values.size >= MIN_CONCEPTS
        low, high = t_interval(values, level) if enough else (float("nan"), float("nan"))
        out.append({"method": method, "metric": metric, "mean": float(values.mean()), "ci_low": low, "ci_high": high,
                    "std": float(values.std(ddof=1)) if values.size > 1 else float("nan"), "concepts": values.size,
                    "note": "" if enough else too_few_concepts(values.size)})
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


# ---- between methods -----------------------------------------------------------------------------------------

COMPARISON_COLUMNS = ["metric", "method_a", "method_b", "unit", "n", "mean_a", "mean_b", "mean_difference",
                      "ci_low", "ci_high", "p_value", "p_holm", "note"]


def paired_t_p(differences: np.ndarray) -> float:
    """Two-sided p of the paired t test that the differences have mean 0."""
    mean, sd = float(differences.mean()), float(differences.std(ddof=1))
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    statistic = mean / (sd / np.sqrt(differences.size))
    return float(2 * stats.t.sf(abs(statistic), differences.size - 1))


def paired_comparisons(metrics: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Every pair of methods on every metric, paired by concept (rows: one per concept and method, seeds pooled).

    The unit is the concept: each concept's difference a - b of its values (each the mean over its seeds and
    images). The mean difference, its t interval and the paired t test's p over concepts; `p_holm` adjusts the
    p-values of each metric's pairs (Holm). With fewer than MIN_CONCEPTS shared concepts: no interval, no p.
    The reference is not a method and is left out.
    """

    # The base model last, so that its pairs read "method - base model": each method's gain over the untrained one.
    present = [m for m in dict.fromkeys(metrics["method"]) if m != REFERENCE_METHOD]
    methods = [m for m in present if m != BASE_MODEL_METHOD] + [m for m in present if m == BASE_MODEL_METHOD]
    out = []
    for metric in dict.fromkeys(metrics["metric"]):
        table = metrics[metrics["metric"] == metric].pivot_table(index="concept", columns="method", values="value")
        rows = []
        for i, a in enumerate(methods):
            for b in methods[i + 1:]:
                if a not in table or b not in table:
                    continue
                pair = table[[a, b]].dropna()
                if pair.empty:
                    continue
                differences = (pair[a] - pair[b]).to_numpy(dtype=np.float64)
                enough = len(pair) >= MIN_CONCEPTS
                low, high = t_interval(differences, level) if enough else (float("nan"), float("nan"))
                rows.append({"metric": metric, "method_a": a, "method_b": b, "unit": "concept", "n": len(pair),
                             "mean_a": float(pair[a].mean()), "mean_b": float(pair[b].mean()),
                             "mean_difference": float(differences.mean()), "ci_low": low, "ci_high": high,
                             "p_value": paired_t_p(differences) if enough else float("nan"),
                             "note": "" if enough else too_few_concepts(len(pair))})
        for row, adjusted in zip(rows, holm([r["p_value"] for r in rows])):
            row["p_holm"] = float(adjusted)
        out += rows
    return pd.DataFrame(out, columns=COMPARISON_COLUMNS)
