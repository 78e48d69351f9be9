"""Distances between two feature sets (Inception): Fréchet (FID) and kernel (KID)."""

from __future__ import annotations

import numpy as np

from conceptbench.scoring.arrays import as_matrix, check_same_dim
from conceptbench.scoring.family import Family, RunFeatures, mean_over_prompts, n_rows, per_prompt


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
    a = as_matrix(feats_a, "feats_a")
    b = as_matrix(feats_b, "feats_b")
    check_same_dim(a, b)
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
    a = as_matrix(feats_a, "feats_a")
    b = as_matrix(feats_b, "feats_b")
    check_same_dim(a, b)
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {a.shape[0]} and {b.shape[0]}")
    if m == a.shape[0] == b.shape[0]:
        return _mmd2_unbiased(a, b)
    rng = np.random.default_rng(seed)
    values = [_mmd2_unbiased(a[rng.choice(a.shape[0], m, replace=False)], b[rng.choice(b.shape[0], m, replace=False)])
              for _ in range(num_subsets)]
    return float(np.mean(values))


# ---- the distance families: the plain prompt's images to the photos, each context prompt's to the base model's ----


def _image_distance(distance):
    def score(run: RunFeatures, ex: str) -> tuple[float, int]:
        generated, targets = run.get("plain", ex), run.get("targets", ex)
        return distance(generated, targets), min(n_rows(generated), n_rows(targets))
    return score


def _target_halves(distance):
    """A distance of a set to itself is 0 by construction, so the reference compares the two halves of the targets:
    the distance between two samples of the same concept is the attainable floor. With fewer than 4 targets a half
    has one image and no distance is defined: NaN, with the n it would have had."""
    def score(run: RunFeatures, ex: str) -> tuple[float, int]:
        targets = as_matrix(run.get("targets", ex), f"{run.labels['targets']}[{ex!r}]")
        half = targets.shape[0] // 2
        return (float("nan") if half < 2 else distance(targets[:half], targets[half:])), half
    return score


def _prompt_distance(distance):
    def score(run: RunFeatures, ex: str) -> tuple[float, int]:
        context, compared, prompts = per_prompt(run, "context", ex)
        # Each distance uses min(set sizes) samples per side; the smallest over prompts bounds comparability.
        n = min(min(n_rows(context[p]), n_rows(compared[p])) for p in prompts)
        return mean_over_prompts(distance, context, compared, prompts), n
    return score


FID_EXTRACTORS = ("inception",)
FAMILIES = (
    Family("image_fid", FID_EXTRACTORS, score=_image_distance(frechet_distance),
           reference=_target_halves(frechet_distance), lower_is_better=True, biased_by_n=True),
    Family("image_kid", FID_EXTRACTORS, score=_image_distance(kernel_inception_distance),
           reference=_target_halves(kernel_inception_distance), lower_is_better=True),
    Family("prompt_fid", FID_EXTRACTORS, score=_prompt_distance(frechet_distance),
           lower_is_better=True, biased_by_n=True),
    Family("prompt_kid", FID_EXTRACTORS, score=_prompt_distance(kernel_inception_distance),
           lower_is_better=True),
)
