"""The conceptbench world: a procedural, captioned world of objects in contexts, and models that know it.

- `vocabulary`, `objects`, `scenes`, `dataset`: the world itself (deterministic from a seed).
- `tokenizer`, `diffusion`, `encoders`, `fitting`: how its models are pretrained.
- `build` (`python -m conceptbench.world build`): the recipe that rebuilds every committed weight file.
- `quality`: what the oracle says about a base model's pictures of world captions.

`builtin:world` in a config names the committed models in `weights/` (base model and extractors).
"""

from pathlib import Path

BUILTIN_WORLD = "builtin:world"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODEL_KINDS = ("base_model", "clip", "dino", "inception", "oracle")


def world_path(kind: str) -> Path:
    """The committed folder of one world model (`base_model` or an extractor kind)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"the world has no {kind!r} model; it has {', '.join(MODEL_KINDS)}")
    path = WEIGHTS_DIR / kind
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: the world's weights ship with conceptbench (reinstall it, or "
                                f"rebuild them with `python -m conceptbench.world build --out {WEIGHTS_DIR}`)")
    return path


def weights_version(folder: Path = WEIGHTS_DIR) -> str:
    """A short hash of the committed weights (from their model card): changes whenever any world model does."""
    import hashlib
    import json

    card = folder / "card.json"
    if not card.is_file():
        raise FileNotFoundError(f"{card} is missing: the world's weights ship with conceptbench (reinstall it, or "
                                f"rebuild them with `python -m conceptbench.world build --out {folder}`)")
    files = json.loads(card.read_text())["files"]
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]
