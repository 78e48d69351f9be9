"""The world oracle's judgement of images: per attribute, the most likely value against the wanted one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from conceptbench.scoring.arrays import as_matrix
from conceptbench.scoring.family import Family


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
    probs = as_matrix(probs, "oracle features")
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


# ---- the oracle families: the share of images in which the oracle sees the concept's class, or the asked context --


def _task(run, metric: str) -> OracleTask:
    if run.oracle is None:
        raise ValueError(f"{metric} needs the oracle's task (labels, class noun, asked attributes)")
    return run.oracle


def _class_sets(run) -> dict[str, tuple]:
    """Every image set (plain and context prompts), each with the class it should show."""
    task = _task(run, "class_accuracy_oracle")
    every = {"plain": run.get("plain", "oracle"), **run.get("context", "oracle")}
    return {key: (probs, {"class": task.class_noun}) for key, probs in every.items()}


def _context_sets(run, required: bool = True) -> dict[str, tuple]:
    """The context prompts whose wording the world knows, each with the attributes its images should show."""
    task = _task(run, "context_accuracy_oracle")
    context = run.get("context", "oracle")
    sets = {pid: (context[pid], task.asked[pid]) for pid in context if task.asked.get(pid)}
    if not sets and required:
        raise ValueError("context_accuracy_oracle: no context prompt is in the world's wording "
                         "(see conceptbench.world.vocabulary.parse_prompt)")
    return sets


def _hits(run, sets: dict[str, tuple]) -> dict[str, np.ndarray]:
    return {key: oracle_hits(probs, run.oracle.labels, wanted) for key, (probs, wanted) in sets.items()}


def _accuracy(sets_of):
    def score(run, ex: str) -> tuple[float, int]:
        hits = np.concatenate(list(_hits(run, sets_of(run)).values()))
        return hits.mean(), len(hits)
    return score


FAMILIES = (
    Family("class_accuracy", ("oracle",), score=_accuracy(_class_sets),
           image_scores=lambda run, ex: _hits(run, _class_sets(run)), pooled=True),
    Family("context_accuracy", ("oracle",), score=_accuracy(_context_sets),
           image_scores=lambda run, ex: _hits(run, _context_sets(run, required=False)), pooled=True),
)
