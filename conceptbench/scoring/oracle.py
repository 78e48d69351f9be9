"""The world oracle's judgement of images: per attribute, the most likely value against the wanted one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from conceptbench.scoring.arrays import as_matrix


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
