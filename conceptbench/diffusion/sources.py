"""What a model string in the config means: a builtin model, a local folder (or file), or a hub id.

Every model slot resolves here, the base model and the feature extractors alike:
- `builtin:world`: the models pretrained on the conceptbench world, committed with the package
  (conceptbench/world/weights/, rebuilt by `python -m conceptbench.world_models build`);
- `builtin:tiny` (and `builtin:tiny-xl`, `builtin:tiny-flux`, `builtin:tiny-flux2-klein`, `builtin:tiny-qwen-image`
  for the base model): tiny random models the workflow builds itself (rules base_model and extractor_model), for
  plumbing tests;
- an existing local path: a diffusers / transformers folder, or for Inception a `.safetensors` file;
- `pytorch-fid` for Inception: pytorch-fid's published FID weights, fetched on first use (scoring/fid_weights.py);
- anything of the form `name` or `owner/name`: a hub id, fetched by `from_pretrained` on first use.
"""

from __future__ import annotations

import re
from pathlib import Path

BUILTIN_WORLD = "builtin:world"
BUILTIN_TINY = "builtin:tiny"
BUILTIN_TINY_XL = "builtin:tiny-xl"
BUILTIN_TINY_FLUX = "builtin:tiny-flux"
BUILTIN_TINY_FLUX2_KLEIN = "builtin:tiny-flux2-klein"
BUILTIN_TINY_QWEN_IMAGE = "builtin:tiny-qwen-image"
# The standard FID Inception weights, downloaded on first use (the name conceptbench.scoring.fid_weights answers to).
PYTORCH_FID = "pytorch-fid"
# Rule base_model writes them to results/base_model.
BUILT_BY_THE_WORKFLOW = (BUILTIN_TINY, BUILTIN_TINY_XL, BUILTIN_TINY_FLUX, BUILTIN_TINY_FLUX2_KLEIN,
                        BUILTIN_TINY_QWEN_IMAGE)
# The builtin: names each model slot takes (the oracle exists only for the world).
BUILTIN_MODELS = {"base_model": (BUILTIN_WORLD, *BUILT_BY_THE_WORKFLOW), "clip": (BUILTIN_WORLD, BUILTIN_TINY),
                  "inception": (BUILTIN_WORLD, BUILTIN_TINY), "dino": (BUILTIN_WORLD, BUILTIN_TINY),
                  "oracle": (BUILTIN_WORLD,)}
# A hub id is a name or owner/name; anything else (a leading '/', '.', '~', several '/') is a local path.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")

# The committed world models: one folder per model slot, and a card whose hashes version them.
WORLD_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "world" / "weights"
WORLD_MODEL_KINDS = ("base_model", "clip", "dino", "inception", "oracle")
_REBUILD = "python -m conceptbench.world_models build --out"


def world_path(kind: str) -> Path:
    """The committed folder of one world model (`base_model` or an extractor kind)."""
    if kind not in WORLD_MODEL_KINDS:
        raise ValueError(f"the world has no {kind!r} model; it has {', '.join(WORLD_MODEL_KINDS)}")
    path = WORLD_WEIGHTS_DIR / kind
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: the world's weights ship with conceptbench (reinstall it, or "
                                f"rebuild them with `{_REBUILD} {WORLD_WEIGHTS_DIR}`)")
    return path


def weights_version(folder: Path = WORLD_WEIGHTS_DIR) -> str:
    """A short hash of the committed weights (from their model card): changes whenever any world model does."""
    import hashlib
    import json

    card = folder / "card.json"
    if not card.is_file():
        raise FileNotFoundError(f"{card} is missing: the world's weights ship with conceptbench (reinstall it, or "
                                f"rebuild them with `{_REBUILD} {folder}`)")
    files = json.loads(card.read_text())["files"]
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]


def resolve(source: str | Path, kind: str = "base_model") -> str:
    """What `from_pretrained` (or the Inception loader) gets for a model string: `builtin:world` becomes the
    committed folder of that slot's world model; anything else stays as it is."""
    return str(world_path(kind)) if str(source) == BUILTIN_WORLD else str(source)


def pipeline_folder(source: str, base_dir: Path) -> Path | None:
    """The local folder of a base model: builtin:world's committed one, a local path, or a hub id's cached copy;
    None where there is none on this machine (a hub model not downloaded yet). Downloads nothing."""
    if source == BUILTIN_WORLD:
        return world_path("base_model")
    path = Path(source).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if path.exists():
        return path
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(source, "model_index.json")
    except Exception:  # noqa: BLE001 (not a valid hub id either: start-up's source check reports it)
        cached = None
    if not isinstance(cached, str):  # None, or a marker that the file is known not to exist
        return None
    return Path(cached).parent


def _weights_file_problems(key: str, path: Path) -> list[str]:
    """A weights file is read at start-up as far as its header: an empty or truncated one fails here, not in a job."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            handle.keys()
    except Exception as exc:  # noqa: BLE001 (safetensors raises its own and OS errors alike)
        return [f"{key}: {path} is not a readable .safetensors file ({exc}); write it again (for the FID Inception "
                "weights, `inception: pytorch-fid` fetches the standard ones on first use)"]
    return []


def source_problems(key: str, source: str, base_dir: Path, kind: str) -> list[str]:
    """A model is a builtin, an existing local folder (or file), or a hub id; hub ids are checked for form only."""
    if kind == "inception" and source == PYTORCH_FID:
        return []  # fetched and checked by the first job that needs it (conceptbench/scoring/fid_weights.py)
    if source.startswith("builtin:"):
        known = BUILTIN_MODELS[kind]
        return [] if source in known else [f"{key}: {source!r} is not a builtin model; use {' or '.join(known)}"]
    path = Path(source).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if path.is_file() and path.suffix == ".safetensors":
        return _weights_file_problems(key, path)
    if path.exists():
        return []
    if _HUB_ID.fullmatch(source) and not source.endswith(".safetensors"):
        return []  # a hub id: its existence is known only online, at the first job that downloads it
    hint = " (or `pytorch-fid`: the standard FID Inception weights, fetched on first use)" if kind == "inception" else ""
    return [f"{key}: {source!r} is neither an existing local path ({path} does not exist) nor a hub id "
            f"(owner/name); fix the path{hint}"]
