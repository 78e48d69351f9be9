"""The all-at-once bootstrap (conceptbench.scoring.replicates) against its definition: every metric recomputed on the
resampled features, replicate by replicate (uncertainty.with_bootstrap_intervals with resample_images/prompts)."""

import numpy as np
import pytest

from conceptbench.scoring.distances import frechet_distances, kernel_inception_distances
from conceptbench.scoring.oracle import OracleTask
from conceptbench.scoring.registry import METRIC_NAMES
from conceptbench.scoring.replicates import concept_method_replicates, reference_replicates
from conceptbench.scoring.rows import concept_method_metrics, reference_metrics
from conceptbench.scoring.uncertainty import (
    draw_rows,
    resample_images,
    resample_prompts,
    with_bootstrap_intervals,
    with_intervals,
)

DIMS = {"clip": 16, "dino": 12, "inception": 32}
LABELS = ["class=dog", "class=cat", "context=plain", "context=forest", "rendering=photo", "rendering=painting"]
PROMPTS = ["p0", "p1", "p2"]
TASK = OracleTask(LABELS, "dog", {"p0": {"context": "forest"}, "p1": {"context": "plain", "rendering": "photo"}})
SAMPLES = 40


def _features(rng, n: int) -> dict:
    """One image set as every extractor sees it, the oracle's columns as per-attribute probabilities."""
    feats = {ex: rng.normal(size=(n, d)) for ex, d in DIMS.items()}
    feats["oracle"] = rng.random((n, len(LABELS)))
    return feats


def _per_prompt(rng, n: int) -> dict:
    sets = {p: _features(rng, n) for p in PROMPTS}
    return {ex: {p: sets[p][ex] for p in PROMPTS} for ex in [*DIMS, "oracle"]}


@pytest.fixture
def world():
    rng = np.random.default_rng(11)
    return dict(plain=_features(rng, 6), targets=_features(rng, 5), context=_per_prompt(rng, 4),
                base_a=_per_prompt(rng, 4), base_b=_per_prompt(rng, 4),
                text={"clip": {p: rng.normal(size=(1, DIMS["clip"])) for p in PROMPTS}})


def _values(rows) -> dict:
    return {r["metric"]: r["value"] for r in rows}


def test_method_replicates_equal_the_metrics_of_the_resampled_images(world):
    common = dict(target_feats=world["targets"], baseline_feats=world["base_b"], text_feats=world["text"],
                  metric_list=list(METRIC_NAMES), oracle=TASK)
    sizes = {"plain": 6, **{p: 4 for p in PROMPTS}}
    drawn = draw_rows(np.random.default_rng(0), sizes, SAMPLES)
    fast = concept_method_replicates(image_feats=world["plain"], context_feats=world["context"], rows=drawn, **common)

    # The definition, with the same draws: resample_images then resample_prompts, replicate after replicate.
    rng = np.random.default_rng(0)
    for b in range(SAMPLES):
        plain = resample_images(rng, world["plain"])
        context = resample_prompts(rng, world["context"])
        slow = _values(concept_method_metrics("c", "m", image_feats=plain, context_feats=context, **common))
        assert set(fast) == set(slow) == set(METRIC_NAMES)
        for metric, value in slow.items():
            assert fast[metric][b] == pytest.approx(value, rel=1e-9, abs=1e-12), (metric, b)

    # No resampling (every set drawn as it is) gives the point estimates.
    identity = {name: np.arange(n)[None, :] for name, n in sizes.items()}
    point = _values(concept_method_metrics("c", "m", image_feats=world["plain"], context_feats=world["context"],
                                           **common))
    same = concept_method_replicates(image_feats=world["plain"], context_feats=world["context"], rows=identity,
                                     **common)
    assert {m: v[0] for m, v in same.items()} == pytest.approx(point, rel=1e-9)


def test_reference_replicates_equal_the_reference_of_the_resampled_images(world):
    metrics = list(METRIC_NAMES)
    base_plain = world["plain"]
    sizes = {"plain": 6, **{p: 4 for p in PROMPTS}}
    drawn = draw_rows(np.random.default_rng(3), sizes, SAMPLES)
    fast = reference_replicates(world["base_a"], world["base_b"], metrics, drawn, text_feats=world["text"],
                                oracle=TASK, baseline_plain=base_plain)
    assert not any(m.startswith("image_") for m in fast), "targets vs targets has nothing to resample"
    rng = np.random.default_rng(3)
    for b in range(SAMPLES):
        plain = resample_images(rng, base_plain)
        half_a = resample_prompts(rng, world["base_a"])
        slow = _values(reference_metrics("c", world["targets"], half_a, world["base_b"], metrics,
                                         text_feats=world["text"], oracle=TASK, baseline_plain=plain))
        for metric in fast:
            assert fast[metric][b] == pytest.approx(slow[metric], rel=1e-9, abs=1e-12), (metric, b)


@pytest.mark.parametrize("n, nb", [(5, 5), (5, 3), (40, 40)])  # KID on all rows; on random subsets; FID's d x d path
def test_stacked_distances_match_one_at_a_time(n, nb):
    from conceptbench.scoring.distances import frechet_distance, kernel_inception_distance

    rng = np.random.default_rng(n + nb)
    a, b = rng.normal(size=(n, 6)), rng.normal(0.3, 1.2, size=(nb, 6))
    rows = rng.integers(0, n, (7, n))
    assert frechet_distances(a, rows, b) == pytest.approx([frechet_distance(a[r], b) for r in rows], rel=1e-9)
    assert kernel_inception_distances(a, rows, b) == pytest.approx(
        [kernel_inception_distance(a[r], b) for r in rows], rel=1e-9, abs=1e-12)


def test_stacked_distances_in_chunks(monkeypatch):
    """Real Inception features are 2048-D: the resampled sets are stacked a few replicates at a time."""
    import conceptbench.scoring.distances as distances

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 20)), rng.normal(size=(6, 20))
    rows = rng.integers(0, 6, (25, 6))
    whole = frechet_distances(a, rows, b), kernel_inception_distances(a, rows, b)
    monkeypatch.setattr(distances, "_CHUNK_FLOATS", 300)  # 2 or 3 replicates per chunk
    assert frechet_distances(a, rows, b) == pytest.approx(whole[0], rel=1e-12)
    assert kernel_inception_distances(a, rows, b) == pytest.approx(whole[1], rel=1e-12)


def test_intervals_from_replicates_and_from_the_loop_agree(world):
    """The workflow's path (draws, replicates, with_intervals) and the plain loop give the same intervals."""
    common = dict(target_feats=world["targets"], baseline_feats=world["base_b"], text_feats=world["text"],
                  metric_list=["image_similarity_clip", "prompt_fid_inception"], oracle=TASK)
    rows = concept_method_metrics("c", "m", image_feats=world["plain"], context_feats=world["context"], **common)
    drawn = draw_rows(np.random.default_rng(0), {"plain": 6, **{p: 4 for p in PROMPTS}}, 200)
    fast = with_intervals(rows, concept_method_replicates(image_feats=world["plain"], context_feats=world["context"],
                                                          rows=drawn, **common))
    slow = with_bootstrap_intervals(rows, lambda rng: concept_method_metrics(
        "c", "m", image_feats=resample_images(rng, world["plain"]),
        context_feats=resample_prompts(rng, world["context"]), **common), samples=200)
    for f, s in zip(fast, slow):
        assert (f["ci_low"], f["ci_high"]) == pytest.approx((s["ci_low"], s["ci_high"]), rel=1e-9)
        assert f["ci_low"] < f["value"] < f["ci_high"]
    # A metric without replicates gets no interval.
    missing = with_intervals([{"metric": "image_fid_inception", "value": 1.0}], {})
    assert np.isnan(missing[0]["ci_low"]) and np.isnan(missing[0]["ci_high"])
