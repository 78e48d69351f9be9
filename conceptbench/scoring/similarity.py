"""Cosine similarities between feature sets (CLIP, DINO): the similarity metrics' functional core."""

from __future__ import annotations

from functools import partial

import numpy as np

from conceptbench.scoring.arrays import as_matrix, check_same_dim
from conceptbench.scoring.family import Family, RunFeatures, mean_over_prompts, n_rows, per_prompt

SIMILARITY_EXTRACTORS = ("clip", "dino")


def _cosine_matrix(a, b) -> np.ndarray:
    """Cosine similarity of every row of `a` with every row of `b`."""
    a = as_matrix(a, "a")
    b = as_matrix(b, "b")
    check_same_dim(a, b)
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


# ---- the similarity families: cosines of generated images to the photos, to the base model's images, to text ---


def _image_similarity(run: RunFeatures, ex: str) -> tuple[float, int]:
    generated = run.get("plain", ex)
    return mean_pairwise_cosine(generated, run.get("targets", ex)), n_rows(generated)


def _targets_against_themselves(run: RunFeatures, ex: str) -> tuple[float, int]:
    """Each photo against the others: DreamBench's "real images" row for CLIP-I and DINO."""
    targets = as_matrix(run.get("targets", ex), f"{run.labels['targets']}[{ex!r}]")
    return mean_pairwise_cosine(targets, targets, exclude_diagonal=True), targets.shape[0]


def _subject_similarity(run: RunFeatures, ex: str) -> tuple[float, int]:
    context = run.get("context", ex)
    if not context:
        raise ValueError(f"{run.labels['context']} has no prompts")
    generated = np.concatenate([as_matrix(f, f"{run.labels['context']}[{ex!r}]") for f in context.values()])
    return mean_pairwise_cosine(generated, run.get("targets", ex)), generated.shape[0]


def _prompt_similarity(run: RunFeatures, ex: str, other: str = "compare") -> tuple[float, int]:
    context, compared, prompts = per_prompt(run, "context", ex, other)
    return mean_over_prompts(mean_pairwise_cosine, context, compared, prompts), sum(n_rows(context[p]) for p in prompts)


def _prompt_image_scores(run: RunFeatures, ex: str, other: str = "compare") -> dict[str, np.ndarray]:
    context, compared, prompts = per_prompt(run, "context", ex, other)
    return {pid: cosine_to_set(context[pid], compared[pid]) for pid in prompts}


FAMILIES = (
    Family(
        "image_similarity", SIMILARITY_EXTRACTORS, score=_image_similarity,
        image_scores=lambda run, ex: {"plain": cosine_to_set(run.get("plain", ex), run.get("targets", ex))},
        reference=_targets_against_themselves),
    Family("prompt_similarity", SIMILARITY_EXTRACTORS, score=_prompt_similarity, image_scores=_prompt_image_scores),
    # DreamBench's CLIP-I and DINO: every image of every context prompt against every target photo.
    Family(
        "subject_similarity", SIMILARITY_EXTRACTORS, score=_subject_similarity,
        image_scores=lambda run, ex: {pid: cosine_to_set(feats, run.get("targets", ex))
                                      for pid, feats in run.get("context", ex).items()},
        pooled=True, reference=_targets_against_themselves),
    # The images against the CLIP text embedding of their prompt (the concept phrase replaced by the class noun).
    Family("text_alignment", ("clip",), score=partial(_prompt_similarity, other="text"),
           image_scores=partial(_prompt_image_scores, other="text"), needs_text=True),
)
