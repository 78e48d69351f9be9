"""Every metric in one table: a metric is a family (scoring/family.py) on one extractor's features.

The families live beside their functional cores: similarities in `similarity`, FID and KID in `distances`, the
world oracle's accuracies in `oracle`. Everything that asks about a metric (its name, how to score it, whether it
pairs image by image, whether lower is better) asks here, and the config schema's list of metric names is
METRIC_NAMES. Adding a family means adding it to its module's FAMILIES and to ORDER below.
"""

from __future__ import annotations

from collections.abc import Iterable

from conceptbench.scoring import distances, oracle, similarity
from conceptbench.scoring.family import Family

_BY_NAME = {family.name: family for family in (*similarity.FAMILIES, *distances.FAMILIES, *oracle.FAMILIES)}
# The order of the tables' columns and of metric names everywhere: the image axis, the prompt axis, the rest.
ORDER = ("image_similarity", "image_fid", "image_kid", "prompt_similarity", "prompt_fid", "prompt_kid",
         "subject_similarity", "text_alignment", "class_accuracy", "context_accuracy")
FAMILIES: dict[str, Family] = {name: _BY_NAME[name] for name in ORDER}
if set(FAMILIES) != set(_BY_NAME):
    raise ImportError(f"metric families {sorted(set(_BY_NAME) - set(ORDER))} are not in registry.ORDER")

METRIC_NAMES = tuple(metric for family in FAMILIES.values() for metric in family.metrics())
ORACLE_METRICS = tuple(metric for metric in METRIC_NAMES if metric.endswith("_oracle"))

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


def split_metric(metric: str) -> tuple[str, str]:
    """'prompt_fid_inception' -> ('prompt_fid', 'inception')."""
    family, _, extractor = metric.rpartition("_")
    return family, extractor


def family_of(metric: str) -> tuple[Family, str]:
    """The family of a metric name and its extractor."""
    name, extractor = split_metric(metric)
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; known metrics: {list(METRIC_NAMES)}")
    return FAMILIES[name], extractor


def check_metric_list(metric_list: Iterable[str]) -> list[str]:
    metrics = list(metric_list)
    unknown = [m for m in metrics if m not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known metrics: {list(METRIC_NAMES)}")
    return metrics


def lower_is_better(metric: str) -> bool:
    """True for distance metrics (FID, KID), False for similarities and accuracies."""
    return family_of(metric)[0].lower_is_better


def biased_by_n(metric: str) -> bool:
    """FID's expected value depends on the sample size, so two FIDs compare only at the same n; the similarities
    (mean cosines) and KID (unbiased MMD) estimate the same quantity at any n."""
    return family_of(metric)[0].biased_by_n


def is_per_image(metric: str) -> bool:
    """Whether a metric is a mean of per-image scores, compared image by image between methods (the same prompt
    and seed); the distances (FID, KID) only set by set."""
    return family_of(metric)[0].image_scores is not None
