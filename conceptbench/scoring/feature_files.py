"""Feature files: one safetensors file per image group and extractor, one float32 matrix per image set inside.

Only numpy and safetensors here, so that the jobs reading features (metrics) start without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def save_features(path: str | Path, features: dict[str, np.ndarray], extractor) -> None:
    """Write `features` (set name -> matrix); the metadata records the `features.Extractor` that made them."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"extractor": extractor.kind, "source": extractor.source,
                "random_weights": str(extractor.random_weights).lower(),
                "preprocessing": getattr(extractor, "preprocessing", "")}
    if extractor.labels is not None:
        metadata["labels"] = json.dumps(extractor.labels)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in features.items()}, str(path),
              metadata=metadata)


def _unreadable(path, exc) -> ValueError:
    return ValueError(f"{path}: cannot read this feature file ({exc}); it is truncated or not a feature file: "
                      f"delete it and re-run snakemake, which re-makes it from its images")


def load_features(path: str | Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def features_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def features_are_random(path: str | Path) -> bool:
    return features_metadata(path).get("random_weights") == "true"
