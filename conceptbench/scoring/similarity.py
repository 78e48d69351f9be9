"""Cosine similarities between feature sets (CLIP, DINO): the similarity metrics' functional core."""

from __future__ import annotations

import numpy as np

from conceptbench.scoring.arrays import as_matrix, check_same_dim


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
