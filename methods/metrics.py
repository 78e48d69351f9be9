"""Scores for generated image sets: cosine similarities, Fréchet distances and the tidy rows the workflow writes.

Everything is computed in float64 numpy; feature sets are 2-D arrays with one row per image (or text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

# Extractors each metric family is defined for (the part of the metric name after the family).
SIMILARITY_EXTRACTORS = ("clip", "dino")
FID_EXTRACTORS = ("inception",)  # FID and KID

METRIC_NAMES = (
    *(f"image_similarity_{ex}" for ex in SIMILARITY_EXTRACTORS),
    *(f"image_fid_{ex}" for ex in FID_EXTRACTORS),
    *(f"image_kid_{ex}" for ex in FID_EXTRACTORS),
    *(f"prompt_similarity_{ex}" for ex in SIMILARITY_EXTRACTORS),
    *(f"prompt_fid_{ex}" for ex in FID_EXTRACTORS),
    *(f"prompt_kid_{ex}" for ex in FID_EXTRACTORS),
    # DreamBench's CLIP-I and DINO: every image of every context prompt against every target photo.
    *(f"subject_similarity_{ex}" for ex in SIMILARITY_EXTRACTORS),
    "text_alignment_clip",
    "class_accuracy_oracle",
    "context_accuracy_oracle",
)
ORACLE_METRICS = ("class_accuracy_oracle", "context_accuracy_oracle")

REFERENCE_METHOD = "reference"

# The base model's images of each context prompt come in two halves with disjoint seeds (plan.baseline_sets).
# Methods generate from half a's seeds and are compared with half b; the reference compares a with b. So no
# comparison pairs images that share their initial noise: a method that leaves the model as it was scores like
# the reference, not better (with half a, it would score like a copy of the baseline: FID 0).
METHOD_BASELINE_HALF = "b"
REFERENCE_HALVES = ("a", "b")


def metric_axes() -> dict[str, tuple[str, str]]:
    """Per plot family, the (x, y) metrics: x = fidelity to the target photos, y = fidelity to the prompt."""
    return {
        "clip": ("image_similarity_clip", "prompt_similarity_clip"),
        "fid": ("image_fid_inception", "prompt_fid_inception"),
        "kid": ("image_kid_inception", "prompt_kid_inception"),
    }


@dataclass(frozen=True)
class OracleTask:
    """What the world oracle should see in a concept's images (the ground-truth metrics)."""

    labels: list[str]  # the oracle's feature columns, "attribute=value" (e.g. "class=dog")
    class_noun: str  # every image should show the concept's class
    asked: dict[str, dict[str, str]]  # context prompt id -> attributes its images should show


def attribute_slices(labels: list[str]) -> dict[str, slice]:
    """The oracle's columns grouped by attribute: ["class=dog", "class=cat", "context=plain"] -> class: 0:2, ..."""
    slices, names = {}, [label.split("=", 1)[0] for label in labels]
    for name in dict.fromkeys(names):
        first = names.index(name)
        slices[name] = slice(first, first + names.count(name))
    return slices


def oracle_hits(probs, labels: list[str], wanted: Mapping[str, str]) -> np.ndarray:
    """Per image, whether the oracle's most likely value of every wanted attribute is the wanted one."""
    probs = _as_matrix(probs, "oracle features")
    if probs.shape[1] != len(labels):
        raise ValueError(f"oracle features have {probs.shape[1]} columns but {len(labels)} labels")
    slices = attribute_slices(labels)
    hits = np.ones(len(probs), dtype=bool)
    for name, value in wanted.items():
        column = f"{name}={value}"
        if name not in slices or column not in labels[slices[name]]:
            raise ValueError(f"the oracle cannot tell {column!r}; it knows {labels}")
        part = slices[name]
        hits &= probs[:, part].argmax(axis=1) == labels[part].index(column)
    return hits


def lower_is_better(metric: str) -> bool:
    """True for distance metrics (FID, KID), False for similarities and accuracies."""
    return "_fid_" in metric or "_kid_" in metric


def biased_by_n(metric: str) -> bool:
    """FID's expected value depends on the sample size, so two FIDs compare only at the same n; the similarities
    (mean cosines) and KID (unbiased MMD) estimate the same quantity at any n."""
    return "_fid_" in metric


# --------------------------------------------------------------------------- basic measures


def _as_matrix(x, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (rows = samples), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or inf")
    return arr


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")


def _cosine_matrix(a, b) -> np.ndarray:
    """Cosine similarity of every row of `a` with every row of `b`."""
    a = _as_matrix(a, "a")
    b = _as_matrix(b, "b")
    _check_same_dim(a, b)
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    if np.any(na == 0) or np.any(nb == 0):
        raise ValueError("cosine similarity is undefined for a zero feature vector")
    return (a / na) @ (b / nb).T


def cosine_to_set(a, b) -> np.ndarray:
    """Per row of `a`, its mean cosine similarity to the rows of `b`: the per-image terms whose mean is
    mean_pairwise_cosine(a, b)."""
    return _cosine_matrix(a, b).mean(axis=1)


def mean_pairwise_cosine(a, b, exclude_diagonal: bool = False) -> float:
    """Mean cosine similarity over all pairs (row of `a`, row of `b`), not index-paired.

    With `exclude_diagonal=True`, `a` and `b` are the same set and the pairs of a row with itself
    (always 1) are left out, so the value is the mean over the n*(n-1) distinct ordered pairs.
    """
    sims = _cosine_matrix(a, b)
    if not exclude_diagonal:
        return float(sims.mean())
    if sims.shape[0] != sims.shape[1]:
        raise ValueError(f"exclude_diagonal needs a and b to be the same set, got {sims.shape[0]} and "
                         f"{sims.shape[1]} rows")
    n = sims.shape[0]
    if n < 2:
        raise ValueError("exclude_diagonal needs at least 2 rows (otherwise no pair is left)")
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix; tiny negative eigenvalues from rounding are clipped to 0."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet (Inception) distance between two sets of row vectors, each fitted with a Gaussian.

        FID = ||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr(sqrt(S_a S_b))

    with sample covariances (ddof=1), so each set needs at least 2 rows. Tr(sqrt(S_a S_b)) is the
    sum of the square roots of the eigenvalues of the symmetric PSD matrix sqrt(S_a) S_b sqrt(S_a)
    (negative rounding residue clipped to 0). The result is real and clipped to >= 0.

    With fewer samples than feature dimensions (e.g. 50 images against 2048 Inception features) the
    covariances are rank-deficient and the estimate is strongly biased upward (the bias shrinks
    roughly as O(1/n)). Values are therefore only comparable between sets of the same size n, which
    is why n is reported beside every value.
    """
    a = _as_matrix(feats_a, "feats_a")
    b = _as_matrix(feats_b, "feats_b")
    _check_same_dim(a, b)
    na, nb, d = a.shape[0], b.shape[0], a.shape[1]
    if na < 2 or nb < 2:
        raise ValueError(f"FID needs at least 2 samples per set to estimate a covariance, got {na} and {nb}")

    xa = a - a.mean(axis=0)
    xb = b - b.mean(axis=0)
    mean_term = float(np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2))
    trace_a = float(np.sum(xa * xa)) / (na - 1)
    trace_b = float(np.sum(xb * xb)) / (nb - 1)

    if na * nb < d * d:
        # Few samples: with S_a = Xa^T Xa/(na-1) and S_b = Xb^T Xb/(nb-1), the nonzero eigenvalues of
        # sqrt(S_a) S_b sqrt(S_a) equal those of S_a S_b, and (cycling the product AB -> BA) those of
        # M M^T/((na-1)(nb-1)) with M = Xa Xb^T (na x nb). The sum of their square roots is therefore
        # the sum of the singular values of M, scaled; an na x nb SVD replaces two d x d eigensolves.
        sv = np.linalg.svd(xa @ xb.T, compute_uv=False)
        trace_sqrt = float(np.sum(sv)) / np.sqrt((na - 1) * (nb - 1))
    else:
        s_a = xa.T @ xa / (na - 1)
        s_b = xb.T @ xb / (nb - 1)
        root_a = _sqrtm_psd(s_a)
        inner = root_a @ s_b @ root_a
        w = np.linalg.eigvalsh((inner + inner.T) / 2)  # symmetrise away rounding asymmetry
        trace_sqrt = float(np.sum(np.sqrt(np.clip(w, 0.0, None))))

    return max(mean_term + trace_a + trace_b - 2.0 * trace_sqrt, 0.0)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018)."""
    d, m, n = x.shape[1], x.shape[0], y.shape[0]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kernel_inception_distance(feats_a, feats_b, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> float:
    """KID: the unbiased MMD^2 between two feature sets, averaged over random subsets (as torch-fidelity and
    clean-fid compute it: 100 subsets of min(1000, n_a, n_b) rows each, drawn without replacement).

    Unlike FID it has no bias from the sample size, so values at small n are comparable in expectation (noisier,
    and it can be slightly negative). When the subsets would be the whole of both sets, it is computed once.
    """
    a = _as_matrix(feats_a, "feats_a")
    b = _as_matrix(feats_b, "feats_b")
    _check_same_dim(a, b)
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {a.shape[0]} and {b.shape[0]}")
    if m == a.shape[0] == b.shape[0]:
        return _mmd2_unbiased(a, b)
    rng = np.random.default_rng(seed)
    values = [_mmd2_unbiased(a[rng.choice(a.shape[0], m, replace=False)], b[rng.choice(b.shape[0], m, replace=False)])
              for _ in range(num_subsets)]
    return float(np.mean(values))


# --------------------------------------------------------------------------- tidy rows


def _check_metric_list(metric_list: Iterable[str]) -> list[str]:
    metrics = list(metric_list)
    unknown = [m for m in metrics if m not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known metrics: {list(METRIC_NAMES)}")
    return metrics


def _split_metric(metric: str) -> tuple[str, str]:
    """'prompt_fid_inception' -> ('prompt_fid', 'inception')."""
    family, _, extractor = metric.rpartition("_")
    return family, extractor


def _feats(feats: Mapping, extractor: str, what: str):
    if extractor not in feats:
        raise KeyError(f"{what} has no features for extractor {extractor!r} (has {sorted(feats)})")
    return feats[extractor]


def _paired_prompts(first: Mapping, second: Mapping, what_first: str, what_second: str) -> list:
    """Prompt ids present in both per-prompt dicts; a prompt missing on either side is an error."""
    if not first:
        raise ValueError(f"{what_first} has no prompts")
    missing = sorted(set(first) ^ set(second), key=str)
    if missing:
        raise KeyError(f"prompt ids {missing} are not in both {what_first} and {what_second}")
    return list(first)


def _per_prompt(score, first: Mapping, second: Mapping, what_first: str, what_second: str):
    """Mean over prompts of score(first[p], second[p]), plus the prompt ids."""
    prompts = _paired_prompts(first, second, what_first, what_second)
    return float(np.mean([score(first[p], second[p]) for p in prompts])), prompts


def _n_rows(x) -> int:
    return _as_matrix(x, "features").shape[0]


def _row(concept: str, method: str, metric: str, value: float, n: int) -> dict:
    return {"concept": concept, "method": method, "metric": metric, "value": float(value), "n": int(n)}


def _prompt_rows(concept, method, metrics, first, second, text_feats, first_what, second_what) -> list[dict]:
    """Rows of the prompt-fidelity metrics, shared by methods (context vs baseline) and reference (base vs base)."""
    rows = []
    for metric in metrics:
        family, ex = _split_metric(metric)
        if family == "prompt_similarity":
            a, b = _feats(first, ex, first_what), _feats(second, ex, second_what)
            value, prompts = _per_prompt(mean_pairwise_cosine, a, b, first_what, second_what)
            n = sum(_n_rows(a[p]) for p in prompts)  # prompts x images
        elif family in ("prompt_fid", "prompt_kid"):
            a, b = _feats(first, ex, first_what), _feats(second, ex, second_what)
            distance = frechet_distance if family == "prompt_fid" else kernel_inception_distance
            value, prompts = _per_prompt(distance, a, b, first_what, second_what)
            # Each distance uses min(set sizes) samples per side; the smallest over prompts bounds comparability.
            n = min(min(_n_rows(a[p]), _n_rows(b[p])) for p in prompts)
        elif metric == "text_alignment_clip":
            if text_feats is None:
                raise ValueError("text_alignment_clip needs text_feats (CLIP text embeddings per prompt)")
            a, t = _feats(first, "clip", first_what), _feats(text_feats, "clip", "text_feats")
            value, prompts = _per_prompt(mean_pairwise_cosine, a, t, first_what, "text_feats")
            n = sum(_n_rows(a[p]) for p in prompts)
        else:
            continue
        rows.append(_row(concept, method, metric, value, n))
    return rows


def _oracle_rows(concept, method, metrics, plain, per_prompt: Mapping, task: OracleTask | None) -> list[dict]:
    """class_accuracy over every image (plain and context prompts); context_accuracy over the context prompts
    whose wording the world knows, each image judged on every attribute its prompt asks for."""
    wanted = [m for m in metrics if m in ORACLE_METRICS]
    if not wanted:
        return []
    if task is None:
        raise ValueError(f"{wanted} need the oracle's task (labels, class noun, asked attributes)")
    rows = []
    if "class_accuracy_oracle" in wanted:
        hits = np.concatenate([oracle_hits(x, task.labels, {"class": task.class_noun})
                               for x in [plain, *per_prompt.values()]])
        rows.append(_row(concept, method, "class_accuracy_oracle", hits.mean(), len(hits)))
    if "context_accuracy_oracle" in wanted:
        judged = [pid for pid in per_prompt if task.asked.get(pid)]
        if not judged:
            raise ValueError("context_accuracy_oracle: no context prompt is in the world's wording "
                             "(see conceptbench.world.vocabulary.parse_prompt)")
        hits = np.concatenate([oracle_hits(per_prompt[pid], task.labels, task.asked[pid]) for pid in judged])
        rows.append(_row(concept, method, "context_accuracy_oracle", hits.mean(), len(hits)))
    return rows


# Metrics that are a mean over images of a per-image score: they can be compared image by image between methods
# (the same prompt and seed), the distances (FID, KID) only set by set.
PER_IMAGE_FAMILIES = ("image_similarity", "subject_similarity", "prompt_similarity", "text_alignment", "class_accuracy",
                      "context_accuracy")


def is_per_image(metric: str) -> bool:
    return _split_metric(metric)[0] in PER_IMAGE_FAMILIES


def per_image_scores(
    concept: str,
    method: str,
    image_feats: dict[str, np.ndarray],
    target_feats: dict[str, np.ndarray],
    context_feats: dict[str, dict[str, np.ndarray]],
    baseline_feats: dict[str, dict[str, np.ndarray]],
    text_feats: dict[str, dict[str, np.ndarray]] | None,
    metric_list: Iterable[str],
    oracle: OracleTask | None = None,
    plain_prompt: str = "plain",
) -> list[dict]:
    """Rows {concept, method, metric, prompt, image, value}: each generated image's own score for every per-image
    metric (arguments as in concept_method_metrics). Image i of a prompt has the same seed for every method, so
    these rows pair methods image by image (uncertainty.paired_comparisons)."""
    rows = []

    def add(metric, prompt, values):
        rows.extend({"concept": concept, "method": method, "metric": metric, "prompt": prompt, "image": i,
                     "value": float(v)} for i, v in enumerate(values))

    for metric in _check_metric_list(metric_list):
        family, ex = _split_metric(metric)
        if family == "image_similarity":
            add(metric, plain_prompt, cosine_to_set(_feats(image_feats, ex, "image_feats"),
                                                    _feats(target_feats, ex, "target_feats")))
        elif family == "subject_similarity":
            targets = _feats(target_feats, ex, "target_feats")
            for pid, feats in _feats(context_feats, ex, "context_feats").items():
                add(metric, pid, cosine_to_set(feats, targets))
        elif family == "prompt_similarity":
            context, baseline = _feats(context_feats, ex, "context_feats"), _feats(baseline_feats, ex, "baseline_feats")
            for pid in _paired_prompts(context, baseline, "context_feats", "baseline_feats"):
                add(metric, pid, cosine_to_set(context[pid], baseline[pid]))
        elif metric == "text_alignment_clip":
            if text_feats is None:
                raise ValueError("text_alignment_clip needs text_feats (CLIP text embeddings per prompt)")
            context, text = _feats(context_feats, "clip", "context_feats"), _feats(text_feats, "clip", "text_feats")
            for pid in _paired_prompts(context, text, "context_feats", "text_feats"):
                add(metric, pid, cosine_to_set(context[pid], text[pid]))
        elif metric in ORACLE_METRICS:
            if oracle is None:
                raise ValueError(f"{metric} needs the oracle's task (labels, class noun, asked attributes)")
            context = _feats(context_feats, "oracle", "context_feats")
            if metric == "class_accuracy_oracle":
                sets = {plain_prompt: _feats(image_feats, "oracle", "image_feats"), **context}
                for pid, probs in sets.items():
                    add(metric, pid, oracle_hits(probs, oracle.labels, {"class": oracle.class_noun}))
            else:
                for pid in [p for p in context if oracle.asked.get(p)]:
                    add(metric, pid, oracle_hits(context[pid], oracle.labels, oracle.asked[pid]))
    return rows


def concept_method_metrics(
    concept: str,
    method: str,
    image_feats: dict[str, np.ndarray],
    target_feats: dict[str, np.ndarray],
    context_feats: dict[str, dict[str, np.ndarray]],
    baseline_feats: dict[str, dict[str, np.ndarray]],
    text_feats: dict[str, dict[str, np.ndarray]] | None,
    metric_list: Iterable[str],
    oracle: OracleTask | None = None,
) -> list[dict]:
    """Tidy rows {concept, method, metric, value, n} for one concept taught with one method.

    Feature dicts are keyed by extractor name ("clip", "inception", "dino"):
      image_feats[ex]                  images of the plain prompt
      target_feats[ex]                 the concept's target photos
      context_feats[ex][prompt_id]     images of each context prompt
      baseline_feats[ex][prompt_id]    base-model images of the same prompt with the concept phrase
                                       replaced by its class noun, from seeds the method's images do not use
      text_feats["clip"][prompt_id]    CLIP text embedding (1 x d) of that rewritten prompt
    `oracle` says what the world oracle ("oracle" features: per-attribute probabilities) should see.

    n is the number of generated images for similarities (prompts x images for the per-prompt ones)
    and the per-set sample size min(n_a, n_b) for FIDs (smallest over prompts for prompt_fid).
    """
    metrics = _check_metric_list(metric_list)
    rows = []
    for metric in metrics:
        family, ex = _split_metric(metric)
        if family == "image_similarity":
            gen = _feats(image_feats, ex, "image_feats")
            value = mean_pairwise_cosine(gen, _feats(target_feats, ex, "target_feats"))
            rows.append(_row(concept, method, metric, value, _n_rows(gen)))
        elif family in ("image_fid", "image_kid"):
            gen, tgt = _feats(image_feats, ex, "image_feats"), _feats(target_feats, ex, "target_feats")
            value = (frechet_distance if family == "image_fid" else kernel_inception_distance)(gen, tgt)
            rows.append(_row(concept, method, metric, value, min(_n_rows(gen), _n_rows(tgt))))
        elif family == "subject_similarity":
            context = _feats(context_feats, ex, "context_feats")
            if not context:
                raise ValueError("context_feats has no prompts")
            gen = np.concatenate([_as_matrix(f, f"context_feats[{ex!r}]") for f in context.values()])
            value = mean_pairwise_cosine(gen, _feats(target_feats, ex, "target_feats"))
            rows.append(_row(concept, method, metric, value, gen.shape[0]))
    rows += _prompt_rows(
        concept, method, metrics, context_feats, baseline_feats, text_feats, "context_feats", "baseline_feats"
    )
    if any(m in ORACLE_METRICS for m in metrics):
        rows += _oracle_rows(concept, method, metrics, _feats(image_feats, "oracle", "image_feats"),
                             _feats(context_feats, "oracle", "context_feats"), oracle)
    # Keep the caller's metric order so the output is predictable.
    return sorted(rows, key=lambda r: metrics.index(r["metric"]))


def reference_metrics(
    concept: str,
    target_feats: dict[str, np.ndarray],
    baseline_a: dict[str, dict[str, np.ndarray]],
    baseline_b: dict[str, dict[str, np.ndarray]],
    metric_list: Iterable[str],
    text_feats: dict[str, dict[str, np.ndarray]] | None = None,
    oracle: OracleTask | None = None,
    baseline_plain: dict[str, np.ndarray] | None = None,
) -> list[dict]:
    """Rows with method "reference": what the metrics give for real data compared with itself.

    They are the ceilings (floors for FID) the methods are plotted against: targets vs targets on the
    image axis, base-model images vs base-model images (two seed halves, `baseline_a` and `baseline_b`,
    keyed like `baseline_feats` of concept_method_metrics) on the prompt axis. text_alignment_clip is
    baseline_a against the prompt text; it is left out when `text_feats` is None. The oracle accuracies are
    those of the base model's own images (`baseline_plain`, the plain prompt's, and `baseline_a`).
    """
    metrics = _check_metric_list(metric_list)
    method = REFERENCE_METHOD
    rows = []
    for metric in metrics:
        family, ex = _split_metric(metric)
        if family in ("image_similarity", "subject_similarity"):
            # Each photo against the others: DreamBench's "real images" row for CLIP-I and DINO.
            tgt = _as_matrix(_feats(target_feats, ex, "target_feats"), f"target_feats[{ex!r}]")
            value = mean_pairwise_cosine(tgt, tgt, exclude_diagonal=True)
            rows.append(_row(concept, method, metric, value, tgt.shape[0]))
        elif family in ("image_fid", "image_kid"):
            tgt = _as_matrix(_feats(target_feats, ex, "target_feats"), f"target_feats[{ex!r}]")
            # A distance of a set to itself is 0 by construction, so compare the two halves of the targets: the
            # distance between two samples of the same concept is the attainable floor. With fewer than 4 targets
            # a half has one image and no distance is defined: NaN, with the n it would have had.
            half = tgt.shape[0] // 2
            if half < 2:
                value = float("nan")
            else:
                distance = frechet_distance if family == "image_fid" else kernel_inception_distance
                value = distance(tgt[:half], tgt[half:])
            rows.append(_row(concept, method, metric, value, half))
    if text_feats is None:
        metrics_for_prompts = [m for m in metrics if m != "text_alignment_clip"]
    else:
        metrics_for_prompts = metrics
    rows += _prompt_rows(
        concept, method, metrics_for_prompts, baseline_a, baseline_b, text_feats, "baseline_a", "baseline_b"
    )
    if any(m in ORACLE_METRICS for m in metrics):
        if baseline_plain is None:
            raise ValueError("the reference's oracle accuracies need baseline_plain (base-model plain-prompt images)")
        rows += _oracle_rows(concept, method, metrics, _feats(baseline_plain, "oracle", "baseline_plain"),
                             _feats(baseline_a, "oracle", "baseline_a"), oracle)
    return sorted(rows, key=lambda r: metrics.index(r["metric"]))
