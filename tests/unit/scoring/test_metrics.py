import math

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from conceptbench.scoring.distances import frechet_distance, kernel_inception_distance
from conceptbench.scoring.oracle import OracleTask, oracle_hits
from conceptbench.scoring.registry import (
    METHOD_BASELINE_HALF,
    METRIC_NAMES,
    ORACLE_METRICS,
    REFERENCE_HALVES,
    is_per_image,
    lower_is_better,
    metric_axes,
)
from conceptbench.scoring.rows import concept_method_metrics, per_image_scores, reference_metrics
from conceptbench.scoring.similarity import mean_pairwise_cosine

# The metrics computed from feature vectors; the oracle's ground-truth metrics have tests of their own below.
FEATURE_METRICS = [m for m in METRIC_NAMES if m not in ORACLE_METRICS]

# --------------------------------------------------------------------------- cosine


def _loop_cosine(a, b, exclude_diagonal=False):
    total, count = 0.0, 0
    for i, u in enumerate(a):
        for j, v in enumerate(b):
            if exclude_diagonal and i == j:
                continue
            total += sum(x * y for x, y in zip(u, v)) / (
                math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v))
            )
            count += 1
    return total / count


A = [[1.0, 0.0, 2.0], [0.5, -1.0, 1.0], [3.0, 1.0, 0.0]]
B = [[0.0, 1.0, 1.0], [2.0, 2.0, -1.0]]


def test_cosine_matches_loop_over_all_pairs():
    assert mean_pairwise_cosine(A, B) == pytest.approx(_loop_cosine(A, B), rel=1e-12)
    # All pairs, not index-paired: the value differs from the mean of cos(a_i, b_i).
    paired = np.mean([_loop_cosine([A[i]], [B[i]]) for i in range(2)])
    assert mean_pairwise_cosine(A, B) != pytest.approx(paired)


def test_cosine_exclude_diagonal():
    assert mean_pairwise_cosine(A, A, exclude_diagonal=True) == pytest.approx(
        _loop_cosine(A, A, exclude_diagonal=True), rel=1e-12
    )
    # Including the diagonal adds n ones.
    n = len(A)
    with_diag = mean_pairwise_cosine(A, A)
    without = mean_pairwise_cosine(A, A, exclude_diagonal=True)
    assert with_diag * n * n == pytest.approx(without * n * (n - 1) + n)


def test_cosine_single_text_vector():
    assert mean_pairwise_cosine(A, np.array(B[0])) == pytest.approx(_loop_cosine(A, [B[0]]))


@pytest.mark.parametrize(
    "a, b, kwargs",
    [
        (np.zeros((0, 3)), B, {}),
        (A, np.zeros((2, 0)), {}),
        (A, [[1.0, 2.0]], {}),  # dim mismatch
        (A, B, {"exclude_diagonal": True}),  # not the same set
        ([[1.0, 2.0]], [[1.0, 2.0]], {"exclude_diagonal": True}),  # no pair left
    ],
)
def test_cosine_errors(a, b, kwargs):
    with pytest.raises(ValueError):
        mean_pairwise_cosine(a, b, **kwargs)


# --------------------------------------------------------------------------- FID


def _direct_fid(a, b):
    mu = a.mean(0) - b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b)
    return float(mu @ mu + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean).real)


@pytest.mark.parametrize("n_a, n_b", [(50, 50), (50, 30), (5, 4)])  # n*n > d*d (direct) and < (subspace)
def test_fid_matches_scipy_sqrtm(n_a, n_b):
    rng = np.random.default_rng(0)
    d = 8
    a = rng.normal(size=(n_a, d)) @ rng.normal(size=(d, d))
    b = rng.normal(size=(n_b, d)) @ rng.normal(size=(d, d)) + 0.5
    assert frechet_distance(a, b) == pytest.approx(_direct_fid(a, b), rel=1e-6)


def test_fid_subspace_path_matches_direct_at_high_dim():
    # n < d uses the n-dim subspace; compare with the d x d formula written out here.
    rng = np.random.default_rng(1)
    d = 64
    a, b = rng.normal(size=(10, d)), rng.normal(size=(12, d)) * 1.5 + 0.2
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)
    mu = a.mean(0) - b.mean(0)
    base = mu @ mu + np.trace(s_a) + np.trace(s_b)
    assert frechet_distance(a, b) == pytest.approx(base - 2 * np.sqrt(ev).sum(), rel=1e-6)
    # The d x d route adds sqrt(rounding noise ~1e-15) for each of the ~d zero eigenvalues (~1e-6 in
    # total); keeping only the true nonzero ones (rank <= n - 1) the two agree to rounding.
    ev_nonzero = ev[ev > 1e-10 * ev.max()]
    assert len(ev_nonzero) <= 9
    assert frechet_distance(a, b) == pytest.approx(base - 2 * np.sqrt(ev_nonzero).sum(), rel=1e-12)


@pytest.mark.parametrize("n, d", [(50, 8), (5, 2048), (3000, 8)])
def test_fid_of_set_with_itself_is_zero(n, d):
    a = np.random.default_rng(2).normal(size=(n, d))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("n", range(2, 11))
def test_fid_real_nonnegative_at_2048(n):
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(n, 2048)), rng.normal(size=(n + 1, 2048)) + 0.1
    for x, y in [(a, b), (a, a.copy()), (a, a + 1e-9)]:
        value = frechet_distance(x, y)
        assert isinstance(value, float) and np.isfinite(value) and value >= 0


def test_fid_shifted_mean_is_mean_distance():
    a = np.random.default_rng(3).normal(size=(40, 6))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.25])
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-9)
    # Same at high dimension with few samples (subspace path).
    a = np.random.default_rng(4).normal(size=(6, 2048))
    shift = np.full(2048, 0.01)
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)


def test_fid_errors():
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.ones((1, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="dimension"):
        frechet_distance(np.ones((3, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((0, 4)), np.ones((3, 4)))


# --------------------------------------------------------------------------- tidy rows

DIMS = {"clip": 16, "dino": 12, "inception": 32}
PROMPTS = ["p0", "p1", "p2"]


def _set(rng, n, ex):
    return rng.normal(size=(n, DIMS[ex]))


def _per_prompt_feats(rng, n, exs=DIMS):
    return {ex: {p: _set(rng, n, ex) for p in PROMPTS} for ex in exs}


@pytest.fixture
def feats():
    rng = np.random.default_rng(5)
    return dict(
        image_feats={ex: _set(rng, 8, ex) for ex in DIMS},
        target_feats={ex: _set(rng, 6, ex) for ex in DIMS},
        context_feats=_per_prompt_feats(rng, 4),
        baseline_feats=_per_prompt_feats(rng, 4),
        baseline_b=_per_prompt_feats(rng, 4),
        text_feats={"clip": {p: _set(rng, 1, "clip") for p in PROMPTS}},
    )


def _check_rows(rows, concept, method, metric_list):
    assert [r["metric"] for r in rows] == list(metric_list)
    for r in rows:
        assert set(r) == {"concept", "method", "metric", "value", "n"}
        assert r["concept"] == concept and r["method"] == method
        assert isinstance(r["value"], float) and np.isfinite(r["value"])
        assert isinstance(r["n"], int) and r["n"] > 0


def test_concept_method_metrics_all(feats):
    rows = concept_method_metrics(
        "dog", "lora", feats["image_feats"], feats["target_feats"], feats["context_feats"],
        feats["baseline_feats"], feats["text_feats"], FEATURE_METRICS,
    )
    _check_rows(rows, "dog", "lora", FEATURE_METRICS)
    by = {r["metric"]: r for r in rows}
    assert by["image_similarity_clip"]["value"] == pytest.approx(
        mean_pairwise_cosine(feats["image_feats"]["clip"], feats["target_feats"]["clip"])
    )
    assert by["image_similarity_clip"]["n"] == 8
    assert by["image_fid_inception"]["n"] == 6
    assert by["prompt_similarity_dino"]["n"] == len(PROMPTS) * 4
    expected = np.mean([
        frechet_distance(feats["context_feats"]["inception"][p], feats["baseline_feats"]["inception"][p])
        for p in PROMPTS
    ])
    assert by["prompt_fid_inception"]["value"] == pytest.approx(expected)
    assert by["image_kid_inception"]["value"] == pytest.approx(
        kernel_inception_distance(feats["image_feats"]["inception"], feats["target_feats"]["inception"]))
    assert by["image_kid_inception"]["n"] == 6
    expected = np.mean([
        kernel_inception_distance(feats["context_feats"]["inception"][p], feats["baseline_feats"]["inception"][p])
        for p in PROMPTS
    ])
    assert by["prompt_kid_inception"]["value"] == pytest.approx(expected)


def test_concept_method_metrics_subset_and_unknown(feats):
    args = (feats["image_feats"], feats["target_feats"], feats["context_feats"], feats["baseline_feats"], None)
    rows = concept_method_metrics("dog", "dreambooth", *args, ["prompt_fid_inception", "image_similarity_dino"])
    _check_rows(rows, "dog", "dreambooth", ["prompt_fid_inception", "image_similarity_dino"])
    with pytest.raises(ValueError, match="unknown metric"):
        concept_method_metrics("dog", "lora", *args, ["image_similarity_clip", "image_fid_clipx"])
    with pytest.raises(ValueError, match="text_feats"):
        concept_method_metrics("dog", "lora", *args, ["text_alignment_clip"])


def test_concept_method_metrics_mismatched_prompts(feats):
    baseline = {ex: dict(list(d.items())[:2]) for ex, d in feats["baseline_feats"].items()}
    with pytest.raises(KeyError, match="p2"):
        concept_method_metrics(
            "dog", "lora", feats["image_feats"], feats["target_feats"], feats["context_feats"],
            baseline, None, ["prompt_similarity_clip"],
        )


def test_reference_metrics(feats):
    rows = reference_metrics(
        "dog", feats["target_feats"], feats["baseline_feats"], feats["baseline_b"], FEATURE_METRICS,
        text_feats=feats["text_feats"],
    )
    _check_rows(rows, "dog", "reference", FEATURE_METRICS)
    by = {r["metric"]: r for r in rows}
    tgt = feats["target_feats"]["inception"]
    assert by["image_fid_inception"]["value"] == pytest.approx(frechet_distance(tgt[:3], tgt[3:]))
    assert by["image_fid_inception"]["n"] == 3
    clip = feats["target_feats"]["clip"]
    assert by["image_similarity_clip"]["value"] == pytest.approx(
        mean_pairwise_cosine(clip, clip, exclude_diagonal=True)
    )
    # Without text embeddings, the text-alignment row is left out.
    rows = reference_metrics("dog", feats["target_feats"], feats["baseline_feats"], feats["baseline_b"], FEATURE_METRICS)
    _check_rows(rows, "dog", "reference", [m for m in FEATURE_METRICS if m != "text_alignment_clip"])
    with pytest.raises(ValueError, match="unknown metric"):
        reference_metrics("dog", feats["target_feats"], feats["baseline_feats"], feats["baseline_b"], ["fid"])


def test_reference_with_three_targets_reports_nan_with_its_n(feats):
    """Three photos are allowed; halves of one photo have no distance, so those rows are NaN, not a failure."""
    few = {ex: f[:3] for ex, f in feats["target_feats"].items()}
    rows = reference_metrics("dog", few, feats["baseline_feats"], feats["baseline_b"],
                             ["image_fid_inception", "image_kid_inception", "image_similarity_clip"])
    by = {r["metric"]: r for r in rows}
    assert math.isnan(by["image_fid_inception"]["value"]) and by["image_fid_inception"]["n"] == 1
    assert math.isnan(by["image_kid_inception"]["value"]) and by["image_kid_inception"]["n"] == 1
    assert np.isfinite(by["image_similarity_clip"]["value"]) and by["image_similarity_clip"]["n"] == 3


PROMPT_METRICS = [m for m in FEATURE_METRICS if m.startswith("prompt_")]


def test_a_method_that_copies_the_base_model_does_not_beat_the_reference(feats):
    """The seed-coupling bias: a no-op method's context images are the base model's images from half a's seeds.
    Compared with the half the workflow compares methods with, it must score exactly like the reference."""
    halves = {"a": feats["baseline_feats"], "b": feats["baseline_b"]}
    first, second = REFERENCE_HALVES
    reference = reference_metrics("dog", feats["target_feats"], halves[first], halves[second], PROMPT_METRICS)
    noop = concept_method_metrics("dog", "noop", feats["image_feats"], feats["target_feats"],
                                  context_feats=halves["a"], baseline_feats=halves[METHOD_BASELINE_HALF],
                                  text_feats=None, metric_list=PROMPT_METRICS)
    for ref, copy in zip(reference, noop):
        assert ref["metric"] == copy["metric"]
        better = copy["value"] < ref["value"] if lower_is_better(ref["metric"]) else copy["value"] > ref["value"]
        assert not better and copy["value"] == pytest.approx(ref["value"]), (ref, copy)


def test_metric_axes_name_known_metrics():
    for x, y in metric_axes().values():
        assert x in METRIC_NAMES and y in METRIC_NAMES


# --------------------------------------------------------------------------- KID


def _kid_by_loops(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written out pair by pair."""
    d = len(x[0])

    def k(a, b):
        return (sum(p * q for p, q in zip(a, b)) / d + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1.0, size=(7, 5))
    assert kernel_inception_distance(x, y) == pytest.approx(_kid_by_loops(x.tolist(), y.tolist()), rel=1e-10)
    # Subsets: the mean over subsets of the same estimator, reproducible from the seed.
    big_x, big_y = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    value = kernel_inception_distance(big_x, big_y, num_subsets=5, subset_size=10, seed=3)
    picks = np.random.default_rng(3)
    expected = np.mean([_kid_by_loops(big_x[picks.choice(40, 10, replace=False)].tolist(),
                                      big_y[picks.choice(30, 10, replace=False)].tolist()) for _ in range(5)])
    assert value == pytest.approx(expected, rel=1e-10)


def test_kid_is_unbiased_where_fid_is_not():
    """Two samples of one distribution: KID averages to ~0 at n = 5, FID stays far above 0."""
    rng = np.random.default_rng(1)
    kids, fids = [], []
    for _ in range(200):
        a, b = rng.normal(size=(5, 16)), rng.normal(size=(5, 16))
        kids.append(kernel_inception_distance(a, b))
        fids.append(frechet_distance(a, b))
    assert abs(np.mean(kids)) < 3 * np.std(kids) / np.sqrt(len(kids))
    assert np.mean(fids) > 10 * np.std(fids) / np.sqrt(len(fids))


# --------------------------------------------------------------------------- the world oracle

LABELS = ["class=dog", "class=cat", "context=plain", "context=forest", "rendering=photo", "rendering=painting"]


def _probs(*rows):
    return np.array(rows, dtype=float)


def test_oracle_hits_reads_the_most_likely_value_of_each_attribute():
    probs = _probs([0.9, 0.1, 0.2, 0.8, 0.6, 0.4],   # dog in a forest, photo
                   [0.3, 0.7, 0.9, 0.1, 0.1, 0.9])   # cat, plain, painting
    assert oracle_hits(probs, LABELS, {"class": "dog"}).tolist() == [True, False]
    assert oracle_hits(probs, LABELS, {"context": "forest", "rendering": "photo"}).tolist() == [True, False]
    assert oracle_hits(probs, LABELS, {"context": "plain", "rendering": "painting"}).tolist() == [False, True]
    with pytest.raises(ValueError, match="context=desert"):
        oracle_hits(probs, LABELS, {"context": "desert"})


def test_oracle_metrics_count_every_image_and_only_judged_prompts():
    dog_forest, cat_plain = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4], [0.3, 0.7, 0.9, 0.1, 0.6, 0.4]
    task = OracleTask(LABELS, "dog", {"p_forest": {"context": "forest"}, "p_plain": {"context": "plain"}})
    plain = _probs(dog_forest, cat_plain)
    per_prompt = {"p_forest": _probs(dog_forest, dog_forest, cat_plain), "p_plain": _probs(dog_forest),
                  "p_unknown": _probs(cat_plain)}
    feats = dict(image_feats={"oracle": plain}, target_feats={}, context_feats={"oracle": per_prompt},
                 baseline_feats={}, text_feats=None)
    rows = {r["metric"]: r for r in concept_method_metrics("c", "m", **feats, metric_list=list(ORACLE_METRICS),
                                                              oracle=task)}
    # class: dogs among all 7 images (2 plain + 5 context) = 4 of 7.
    assert (rows["class_accuracy_oracle"]["value"], rows["class_accuracy_oracle"]["n"]) == (pytest.approx(4 / 7), 7)
    # context: p_forest 2 of 3 in a forest, p_plain 0 of 1 plain; p_unknown is not judged.
    assert (rows["context_accuracy_oracle"]["value"], rows["context_accuracy_oracle"]["n"]) == (pytest.approx(2 / 4), 4)
    with pytest.raises(ValueError, match="oracle's task"):
        concept_method_metrics("c", "m", **feats, metric_list=["class_accuracy_oracle"])


def test_per_image_scores_average_to_the_metric(feats):
    """Each per-image metric is the mean of its images' own scores (equal images per prompt), and image i of
    every prompt is listed once: the rows that pair methods seed by seed."""
    labels = ["class=dog", "class=cat", "context=plain", "context=forest"]
    rng = np.random.default_rng(3)
    oracle_feats = {"image_feats": rng.random((8, 4)), "context": {p: rng.random((4, 4)) for p in PROMPTS}}
    task = OracleTask(labels, "dog", {"p0": {"context": "forest"}, "p1": {"context": "plain"}})
    image = {**feats["image_feats"], "oracle": oracle_feats["image_feats"]}
    context = {**feats["context_feats"], "oracle": oracle_feats["context"]}
    metrics = [m for m in METRIC_NAMES if is_per_image(m)]
    args = dict(image_feats=image, target_feats=feats["target_feats"], context_feats=context,
                baseline_feats=feats["baseline_feats"], text_feats=feats["text_feats"], metric_list=metrics,
                oracle=task)
    rows = {r["metric"]: r for r in concept_method_metrics("dog", "lora", **args)}
    scores = pd.DataFrame(per_image_scores("dog", "lora", **args))
    for metric in metrics:
        mine = scores[scores["metric"] == metric]
        assert mine["value"].mean() == pytest.approx(rows[metric]["value"]), metric
        assert len(mine) == rows[metric]["n"] and not mine.duplicated(["prompt", "image"]).any()
    assert not any(is_per_image(m) for m in METRIC_NAMES if "_fid_" in m or "_kid_" in m)


def test_subject_similarity_is_dreambenchs_mean_over_every_context_image_and_photo(feats):
    rows = concept_method_metrics("dog", "lora", feats["image_feats"], feats["target_feats"], feats["context_feats"],
                                  feats["baseline_feats"], None, ["subject_similarity_dino", "subject_similarity_clip"])
    by = {r["metric"]: r for r in rows}
    for ex in ("dino", "clip"):
        # Brute force, one pair at a time: every context image (12) against every target photo (6).
        images = [x for p in PROMPTS for x in feats["context_feats"][ex][p]]
        cosines = [x @ t / np.linalg.norm(x) / np.linalg.norm(t) for x in images for t in feats["target_feats"][ex]]
        assert len(cosines) == 12 * 6
        assert by[f"subject_similarity_{ex}"]["value"] == pytest.approx(np.mean(cosines), rel=1e-12)
        assert by[f"subject_similarity_{ex}"]["n"] == 12
    # The plain prompt's images play no part.
    other_plain = {ex: -f for ex, f in feats["image_feats"].items()}
    again = concept_method_metrics("dog", "lora", other_plain, feats["target_feats"], feats["context_feats"],
                                   feats["baseline_feats"], None, ["subject_similarity_dino"])
    assert again[0]["value"] == by["subject_similarity_dino"]["value"]
    # Per image: one score per context image, whose mean is the metric.
    scores = per_image_scores("dog", "lora", feats["image_feats"], feats["target_feats"], feats["context_feats"],
                              feats["baseline_feats"], None, ["subject_similarity_dino"])
    assert [s["prompt"] for s in scores] == [p for p in PROMPTS for _ in range(4)]
    assert np.mean([s["value"] for s in scores]) == pytest.approx(by["subject_similarity_dino"]["value"])


def test_subject_similarity_reference_is_dreambenchs_real_images_row(feats):
    rows = reference_metrics("dog", feats["target_feats"], feats["baseline_feats"], feats["baseline_b"],
                             ["subject_similarity_dino"])
    targets = feats["target_feats"]["dino"]
    pairs = [a @ b / np.linalg.norm(a) / np.linalg.norm(b)
             for i, a in enumerate(targets) for j, b in enumerate(targets) if i != j]
    assert rows[0]["value"] == pytest.approx(np.mean(pairs), rel=1e-12) and rows[0]["n"] == 6
