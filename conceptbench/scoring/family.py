"""What a metric family is (`Family`), and the features of one scored run that every family reads (`RunFeatures`).

A metric is a family plus an extractor: `prompt_fid_inception` is the family `prompt_fid` on Inception features.
A family says how to score a run (one value and its n) and, where the value is a mean of per-image scores, each
image's own score, from which the run's interval follows (scoring/uncertainty.py, run_interval).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from conceptbench.scoring.arrays import as_matrix

if TYPE_CHECKING:
    from conceptbench.scoring.oracle import OracleTask

Features = Mapping[str, np.ndarray]  # prompt id -> one row per image


@dataclass(frozen=True)
class RunFeatures:
    """The feature sets of one scored run, each keyed by extractor.

    For a method: `plain` (its plain-prompt images), `context` (per context prompt), the concept's `targets`,
    `compare` (the base model's images of the same prompts, from the seed half the method does not use) and
    `text` (CLIP text embeddings of the prompts). For the reference levels, the base model's own images stand in
    for the method's (`plain` and `context` from half a, `compare` half b). `labels` names each set in errors.
    """

    plain: Mapping[str, np.ndarray]
    context: Mapping[str, Features]
    targets: Mapping[str, np.ndarray]
    compare: Mapping[str, Features]
    text: Mapping[str, Features] | None = None
    oracle: OracleTask | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: {
        "plain": "image_feats", "context": "context_feats", "targets": "target_feats", "compare": "baseline_feats",
        "text": "text_feats"})

    def get(self, which: str, extractor: str):
        """One set's features of one extractor; a clear KeyError when the run has none."""
        sets = getattr(self, which)
        label = self.labels[which]
        if sets is None:
            raise ValueError(f"the metric needs {label} (e.g. CLIP text embeddings per prompt)")
        if extractor not in sets:
            raise KeyError(f"{label} has no features for extractor {extractor!r} (has {sorted(sets)})")
        return sets[extractor]


# score(run, extractor) -> (value, n); image_scores(run, extractor) -> {"plain" or prompt id: per-image values}.
Score = Callable[[RunFeatures, str], tuple[float, int]]
ImageScores = Callable[[RunFeatures, str], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Family:
    """One metric family: its name, the extractors it is defined for, and how it scores.

    `reference`: the reference level's value where it is not `score` on the base model's images (the image axis:
    the target photos against themselves; no generated image, so no interval). `needs_text`: without CLIP text
    embeddings the reference leaves the metric out.
    """

    name: str
    extractors: tuple[str, ...]
    score: Score
    image_scores: ImageScores | None = None  # None: a set statistic (FID, KID)
    pooled: bool = False  # the value is the mean over all its images (True) or over its prompts' means (False)
    reference: Score | None = None
    lower_is_better: bool = False
    biased_by_n: bool = False  # FID: its expectation depends on n, so values compare at one n only
    needs_text: bool = False

    def metrics(self) -> list[str]:
        return [f"{self.name}_{extractor}" for extractor in self.extractors]


# ---- helpers the families share ---------------------------------------------------------------------------------


def paired_prompts(first: Mapping, second: Mapping, what_first: str, what_second: str) -> list:
    """Prompt ids present in both per-prompt dicts; a prompt missing on either side is an error."""
    if not first:
        raise ValueError(f"{what_first} has no prompts")
    missing = sorted(set(first) ^ set(second), key=str)
    if missing:
        raise KeyError(f"prompt ids {missing} are not in both {what_first} and {what_second}")
    return list(first)


def per_prompt(run: RunFeatures, which: str, extractor: str, other: str = "compare"):
    """The per-prompt sets of `which` and `other` (same prompts, checked), and those prompts."""
    first, second = run.get(which, extractor), run.get(other, extractor)
    return first, second, paired_prompts(first, second, run.labels[which], run.labels[other])


def n_rows(x) -> int:
    return as_matrix(x, "features").shape[0]


def mean_over_prompts(score, first: Mapping, second: Mapping, prompts: list) -> float:
    """Mean over prompts of score(first[p], second[p])."""
    return float(np.mean([score(first[p], second[p]) for p in prompts]))

