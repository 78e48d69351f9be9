import numpy as np
import pandas as pd
import pytest

from conceptbench.scoring.rows import concept_method_metrics
from conceptbench.scoring.uncertainty import (
    method_summary,
    paired_comparisons,
    percentile_interval,
    resample_images,
    resample_prompts,
    with_bootstrap_intervals,
)


def test_resampling_draws_the_same_images_for_every_extractor():
    rng = np.random.default_rng(0)
    feats = {"clip": np.arange(10.0)[:, None] * [1, 1], "dino": np.arange(10.0)[:, None] * [2, 2, 2]}
    drawn = resample_images(rng, feats)
    assert np.array_equal(drawn["clip"][:, 0] * 2, drawn["dino"][:, 0])
    assert len(set(drawn["clip"][:, 0])) < 10  # with replacement: 10 draws of 10 almost surely repeat one
    per_prompt = resample_prompts(rng, {"clip": {"p": feats["clip"]}, "dino": {"p": feats["dino"]}})
    assert np.array_equal(per_prompt["clip"]["p"][:, 0] * 2, per_prompt["dino"]["p"][:, 0])


def test_bootstrap_intervals_cover_the_true_value_at_about_the_nominal_rate():
    """Image similarity of n = 20 generated images to fixed targets, 200 times: the 95% intervals must contain the
    true (population) similarity about 95% of the time."""
    rng = np.random.default_rng(0)
    d, n = 6, 20
    targets = {"clip": rng.normal(size=(5, d))}
    mu = np.full(d, 0.4)

    def similarity(images):
        rows = concept_method_metrics("c", "m", {"clip": images}, targets, {}, {}, None, ["image_similarity_clip"])
        return rows

    population = rng.normal(mu, 1.0, size=(200_000, d))
    truth = similarity(population)[0]["value"]
    covered = 0
    trials = 200
    for t in range(trials):
        images = rng.normal(mu, 1.0, size=(n, d))
        rows = with_bootstrap_intervals(similarity(images),
                                        lambda r: similarity(resample_images(r, {"clip": images})["clip"]),
                                        samples=300, seed=t)
        covered += rows[0]["ci_low"] <= truth <= rows[0]["ci_high"]
    assert 0.88 <= covered / trials <= 0.99, f"coverage {covered / trials:.2f}"


def test_fixed_metrics_get_no_interval():
    rows = [{"metric": "image_fid_inception", "value": 3.0}, {"metric": "prompt_fid_inception", "value": 1.0}]
    out = with_bootstrap_intervals(rows, lambda rng: [{"metric": r["metric"], "value": rng.normal()} for r in rows],
                                   samples=200, fixed=lambda m: m.startswith("image_"))
    assert np.isnan(out[0]["ci_low"]) and np.isnan(out[0]["ci_high"])
    assert out[1]["ci_low"] < 0 < out[1]["ci_high"]
    assert percentile_interval([]) != percentile_interval([])  # NaN interval when there is nothing to resample


def _tidy(values: dict[tuple[str, str], float], ci: float = 0.05) -> pd.DataFrame:
    return pd.DataFrame([{"concept": c, "method": m, "metric": "image_kid_inception", "value": v, "n": 5,
                          "ci_low": v - ci, "ci_high": v + ci} for (c, m), v in values.items()])


def test_method_summary_over_concepts_and_of_one_concept():
    many = _tidy({(f"c{i}", "lora"): 0.1 * i for i in range(8)})
    row = method_summary(many).iloc[0]
    assert row["mean"] == pytest.approx(0.35) and row["concepts"] == 8
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    assert row["std"] == pytest.approx(np.std([0.1 * i for i in range(8)], ddof=1))
    # The within-concept noise widens the interval over concepts.
    noisier = method_summary(_tidy({(f"c{i}", "lora"): 0.1 * i for i in range(8)}, ci=0.5)).iloc[0]
    assert noisier["ci_high"] - noisier["ci_low"] > row["ci_high"] - row["ci_low"]
    one = method_summary(_tidy({("c0", "lora"): 0.2})).iloc[0]
    assert (one["ci_low"], one["ci_high"]) == pytest.approx((0.15, 0.25)) and np.isnan(one["std"])


def _scores(method: str, values: np.ndarray) -> pd.DataFrame:
    concepts, images = values.shape
    return pd.DataFrame([{"concept": f"c{c}", "method": method, "metric": "image_similarity_clip", "prompt": "plain",
                          "image": i, "value": values[c, i]} for c in range(concepts) for i in range(images)])


def test_paired_comparisons_pair_images_by_seed_and_distances_by_concept():
    rng = np.random.default_rng(1)
    shared = rng.normal(0.5, 0.2, size=(3, 10))  # what the seed decides, the same for both methods
    better = shared + 0.05 + rng.normal(0, 0.01, size=shared.shape)
    empty = pd.DataFrame(columns=["concept", "method", "metric", "prompt", "image", "value"])  # the reference's
    scores = pd.concat([_scores("lora", better), _scores("ti", shared), _scores("same", shared), empty])
    scores["value"] = scores["value"].astype(object)  # as read back beside an empty CSV
    per_concept = scores.groupby(["concept", "method", "metric"], as_index=False)["value"].mean().assign(n=10)
    kid = _tidy({("c0", "lora"): 0.1, ("c1", "lora"): 0.2, ("c2", "lora"): 0.3,
                 ("c0", "ti"): 0.2, ("c1", "ti"): 0.3, ("c2", "ti"): 0.4,
                 ("c0", "same"): 0.2, ("c1", "same"): 0.3, ("c2", "same"): 0.4})
    reference = pd.DataFrame([{"concept": "c0", "method": "reference", "metric": "image_kid_inception",
                               "value": 0.0, "n": 5}])
    result = paired_comparisons(scores, pd.concat([per_concept, kid, reference]), samples=500).set_index(
        ["metric", "method_a", "method_b"])
    sim = result.loc[("image_similarity_clip", "lora", "ti")]
    # Paired, the 0.05 gain stands far outside its interval's noise although the seeds' spread (0.2) is larger.
    assert sim["unit"] == "image" and sim["n"] == 30
    assert sim["mean_difference"] == pytest.approx(0.05, abs=0.01)
    assert 0 < sim["ci_low"] < sim["ci_high"] and sim["p_wilcoxon"] < 1e-4
    tie = result.loc[("image_similarity_clip", "same", "ti")]
    assert tie["mean_difference"] == 0 and tie["p_wilcoxon"] == 1.0
    distance = result.loc[("image_kid_inception", "lora", "ti")]
    assert distance["unit"] == "concept" and distance["n"] == 3
    assert distance["mean_difference"] == pytest.approx(-0.1)
    assert "reference" not in set(result.index.get_level_values("method_a")) | set(
        result.index.get_level_values("method_b"))


def test_a_comparison_with_one_number_per_concept_resamples_the_concepts():
    """FID and KID pair concept by concept: their interval comes from resampling concepts, never of zero width."""
    rows = [{"concept": f"c{c}", "method": m, "metric": "image_kid_inception", "value": v, "n": 5}
            for c, (a, b) in enumerate([(1.0, 0.5), (2.0, 0.6), (0.4, 0.9), (1.5, 1.2)])
            for m, v in (("a", a), ("b", b))]
    comparison = paired_comparisons(pd.DataFrame(columns=["concept", "method", "metric", "prompt", "image", "value"]),
                                    pd.DataFrame(rows), samples=2000).iloc[0]
    differences = np.array([0.5, 1.4, -0.5, 0.3])
    assert comparison["unit"] == "concept" and comparison["n"] == 4
    assert comparison["mean_difference"] == pytest.approx(differences.mean())
    assert differences.min() <= comparison["ci_low"] < comparison["mean_difference"] < comparison["ci_high"]
    assert comparison["ci_high"] <= differences.max()
