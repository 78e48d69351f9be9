"""The metrics: their names, families and properties, in one table."""

from __future__ import annotations

from collections.abc import Iterable

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


def lower_is_better(metric: str) -> bool:
    """True for distance metrics (FID, KID), False for similarities and accuracies."""
    return "_fid_" in metric or "_kid_" in metric


def biased_by_n(metric: str) -> bool:
    """FID's expected value depends on the sample size, so two FIDs compare only at the same n; the similarities
    (mean cosines) and KID (unbiased MMD) estimate the same quantity at any n."""
    return "_fid_" in metric


# Metrics that are a mean over images of a per-image score: they can be compared image by image between methods
# (the same prompt and seed), the distances (FID, KID) only set by set.
PER_IMAGE_FAMILIES = ("image_similarity", "subject_similarity", "prompt_similarity", "text_alignment", "class_accuracy",
                      "context_accuracy")


def is_per_image(metric: str) -> bool:
    return split_metric(metric)[0] in PER_IMAGE_FAMILIES


def check_metric_list(metric_list: Iterable[str]) -> list[str]:
    metrics = list(metric_list)
    unknown = [m for m in metrics if m not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known metrics: {list(METRIC_NAMES)}")
    return metrics


def split_metric(metric: str) -> tuple[str, str]:
    """'prompt_fid_inception' -> ('prompt_fid', 'inception')."""
    family, _, extractor = metric.rpartition("_")
    return family, extractor
