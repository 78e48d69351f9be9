"""The statistics (conceptbench.scoring.uncertainty): t intervals at each level of the nested design, the summary
and the comparisons over concepts, Holm's adjustment, and "no interval" where there are too few concepts."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conceptbench.scoring.uncertainty import (
    MIN_CONCEPTS,
    holm,
    method_rows,
    method_summary,
    paired_comparisons,
    paired_t_p,
    run_interval,
    seed_means,
    t_interval,
)

# ---- a run: the t interval over its images -------------------------------------------------------------------


def test_a_runs_interval_over_one_set_is_students_t():
    values = np.array([0.2, 0.5, 0.4, 0.9, 0.3])
    half = stats.t.ppf(0.975, 4) * values.std(ddof=1) / np.sqrt(5)
    assert run_interval({"plain": values}, pooled=False) == pytest.approx((values.mean() - half, values.mean() + half))
    assert run_interval({"plain": values}, pooled=False) == pytest.approx(t_interval(values))


def test_a_runs_interval_over_prompts_weights_them_as_the_metric_does():
    rng = np.random.default_rng(3)
    sets = {"a": rng.normal(0.2, 0.1, 5), "b": rng.normal(0.8, 0.3, 10)}
    low, high = run_interval(sets, pooled=False)
    means = np.mean([v.mean() for v in sets.values()])  # the mean of the prompts' means
    assert low < means < high and (low + high) / 2 == pytest.approx(means)
    variance = sum(v.var(ddof=1) / len(v) for v in sets.values()) / 4
    parts = [v.var(ddof=1) / len(v) / 4 for v in sets.values()]
    df = variance ** 2 / sum(p ** 2 / (len(v) - 1) for p, v in zip(parts, sets.values()))  # Welch-Satterthwaite
    assert high - means == pytest.approx(stats.t.ppf(0.975, df) * np.sqrt(variance))
    pooled = run_interval(sets, pooled=True)  # the mean over all 15 images
    assert (pooled[0] + pooled[1]) / 2 == pytest.approx(np.concatenate(list(sets.values())).mean())


def test_a_run_without_spread_has_a_zero_width_interval_and_one_image_none():
    assert run_interval({"p": np.ones(5)}, pooled=True) == (1.0, 1.0)  # every image a hit: the value itself
    assert all(np.isnan(run_interval({"p": np.ones(5), "q": np.ones(1)}, pooled=True)))


# ---- Holm and the paired t test ------------------------------------------------------------------------------


def test_holm_adjusts_step_down_and_keeps_the_order():
    # Holm (1979)'s rule: the k-th smallest of m p-values times (m - k + 1), made monotone, capped at 1.
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.02, np.nan, 0.01])
    assert np.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.02, 0.02])


def test_the_paired_t_test_is_scipys():
    differences = np.array([0.3, -0.1, 0.25, 0.4, 0.05])
    assert paired_t_p(differences) == pytest.approx(stats.ttest_1samp(differences, 0).pvalue)
    assert paired_t_p(np.zeros(4)) == 1.0 and paired_t_p(np.full(4, 0.2)) == 0.0


# ---- over seeds, then concepts -------------------------------------------------------------------------------


def _rows(method, concept, value, ci=(np.nan, np.nan), metric="image_similarity_clip", n=5):
    return {"concept": concept, "method": method, "metric": metric, "value": value, "n": n,
            "ci_low": ci[0], "ci_high": ci[1]}


def test_seeds_pool_into_one_row_per_concept_with_their_spread():
    table = pd.DataFrame([
        _rows("lora", "dog", 0.50, (0.45, 0.55)), _rows("lora@seed1", "dog", 0.60), _rows("lora@seed2", "dog", 0.70),
        _rows("lora@seed1@step50", "dog", 0.2), _rows("lora@step50", "dog", 0.4),
        _rows("ti", "dog", 0.30, (0.25, 0.35)), _rows("reference", "dog", 0.9),
    ])
    rows = method_rows(table, {"lora": 0, "ti": 3}).set_index("method")
    assert set(rows.index) == {"lora", "ti", "reference"}  # snapshots left to the trade-off plots
    lora = rows.loc["lora"]
    assert lora["value"] == pytest.approx(0.6) and lora["seeds"] == 3 and lora["n"] == 5
    half = 4.302652729911275 * np.std([0.5, 0.6, 0.7], ddof=1) / np.sqrt(3)  # Student's t, 2 degrees of freedom
    assert (lora["ci_low"], lora["ci_high"]) == pytest.approx((0.6 - half, 0.6 + half))
    # One seed: the row as it was, its own within-run interval.
    assert (rows.loc["ti", "value"], rows.loc["ti", "ci_low"], rows.loc["ti", "seeds"]) == (0.30, 0.25, 1)
    steps = method_rows(table, {"lora": 0}, snapshots=True).set_index("method")
    assert steps.loc["lora@step50", "value"] == pytest.approx(0.3)


def test_seed_means_are_the_t_interval_over_seeds():
    values = [0.5, 0.62, 0.41, 0.77]
    rows = seed_means(pd.DataFrame([_rows("lora", "dog", v) for v in values]).assign(seed=range(4)))
    assert (rows["ci_low"][0], rows["ci_high"][0]) == pytest.approx(t_interval(values))


def _concepts(values: dict[str, list[float]], metric="image_similarity_clip") -> pd.DataFrame:
    return pd.DataFrame([{"concept": f"c{i}", "method": m, "metric": metric, "value": v, "n": 5, "seeds": 1}
                         for m, vs in values.items() for i, v in enumerate(vs)])


def test_the_summary_is_the_t_interval_over_concepts():
    values = [0.1 * i for i in range(8)]
    row = method_summary(_concepts({"lora": values})).iloc[0]
    assert row["mean"] == pytest.approx(0.35) and row["concepts"] == 8 and row["note"] == ""
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(t_interval(values))
    assert row["std"] == pytest.approx(np.std(values, ddof=1))


def test_too_few_concepts_give_no_interval_and_say_so():
    assert MIN_CONCEPTS == 3
    row = method_summary(_concepts({"lora": [0.2, 0.4]})).iloc[0]
    assert row["mean"] == pytest.approx(0.3) and np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    assert row["note"] == "n = 2 concepts: no interval or test (at least 3 needed)"
    comparison = paired_comparisons(_concepts({"a": [0.2, 0.4], "b": [0.1, 0.1]})).iloc[0]
    assert comparison["n"] == 2 and comparison["mean_difference"] == pytest.approx(0.2)
    assert np.isnan(comparison[["ci_low", "ci_high", "p_value", "p_holm"]].astype(float)).all()
    assert "n = 2 concepts" in comparison["note"]


def test_comparisons_pair_concepts_and_adjust_over_each_metrics_pairs():
    rng = np.random.default_rng(1)
    shared = rng.normal(0.5, 0.2, 6)  # what the concept decides, the same for every method
    table = pd.concat([
        _concepts({"lora": shared + 0.05 + rng.normal(0, 0.01, 6), "ti": shared, "same": shared,
                   "base_model": shared - 0.3, "reference": shared + 0.4}),
        _concepts({"lora": shared, "ti": shared + 1}, metric="image_kid_inception"),
    ])
    result = paired_comparisons(table).set_index(["metric", "method_a", "method_b"])
    gain = result.loc[("image_similarity_clip", "lora", "ti")]
    # Paired, the 0.05 gain stands outside its interval's noise although the concepts' spread (0.2) is larger.
    assert gain["unit"] == "concept" and gain["n"] == 6 and gain["note"] == ""
    differences = table.query("metric == 'image_similarity_clip' and method == 'lora'")["value"].to_numpy() - shared
    assert gain["mean_difference"] == pytest.approx(differences.mean())
    assert (gain["ci_low"], gain["ci_high"]) == pytest.approx(t_interval(differences))
    assert gain["p_value"] == pytest.approx(paired_t_p(differences)) and gain["p_value"] < 1e-4
    # The base model is every pair's second method (its pairs are each method's gain over it); no reference.
    pairs = result.loc["image_similarity_clip"].index
    assert {b for a, b in pairs if "base_model" in (a, b)} == {"base_model"}
    assert not any("reference" in pair for pair in pairs)
    assert result.loc[("image_similarity_clip", "lora", "base_model"), "mean_difference"] > 0.3
    # Holm over the six pairs of this metric, not over every row of the table.
    family = result.loc["image_similarity_clip"]
    assert family["p_holm"].to_numpy() == pytest.approx(holm(family["p_value"].to_numpy()))
    assert result.loc[("image_kid_inception", "lora", "ti"), "p_holm"] == result.loc[
        ("image_kid_inception", "lora", "ti"), "p_value"]  # a family of one
