"""Helpers for the config tests (tests/unit/config/ and tests/workflow/test_start_up.py): the embedded default and
the presets, concept folders and configs to break, and the DreamBench photos the dreambench preset points at."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_helpers import REPO

EMBEDDED = REPO / "config.yaml"
GOOD_TEXT = EMBEDDED.read_text()
DEMO = REPO / "data" / "demo"
DEMO_DOG = DEMO / "blue_dog"
PRESETS = sorted((REPO / "config").glob("*.yaml"))
# CI has the DreamBench photos at ../shared; a user's fresh clone does not, so only the tests that need them skip.
DREAMBENCH = REPO.parent / "shared" / "data" / "dreambench"
needs_dreambench = pytest.mark.skipif(not (DREAMBENCH / "dataset").is_dir(),
                                      reason=f"DreamBench photos not found at {DREAMBENCH / 'dataset'}")


def assert_names(message: str, *parts: str) -> None:
    missing = [part for part in parts if part not in message]
    assert not missing, f"message lacks {missing}:\n{message}"


# ---- the embedded default and the presets ----------------------------------------------------------------------


def embedded() -> dict:
    """config.yaml as written (defaults not filled in), a fresh copy each call."""
    return yaml.safe_load(EMBEDDED.read_text())


def preset(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())


def with_local_models(base: Path, config: dict) -> Path:
    """Put stand-ins where a preset's local model paths point (`config`: the preset): start-up checks that they
    exist, and reads a .safetensors file's header (so that one is a valid, one-tensor file)."""
    from safetensors.numpy import save_file

    for source in [config["base_model"], *config.get("extractors", {}).values()]:
        if source.startswith(("models/", "./")):
            path = base / source
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".safetensors":
                save_file({"stand_in": np.zeros(1, dtype=np.float32)}, str(path))
            else:
                path.touch()
    return base


def dreambench_lists() -> tuple[dict[str, str], list[str], list[str]]:
    """({subject: class}, object prompts, live prompts) from DreamBench's prompts_and_classes.txt, with {c}."""
    text = (DREAMBENCH / "dataset" / "prompts_and_classes.txt").read_text()
    table = text.split("subject_name,class\n")[1].split("\n\n")[0]
    classes = dict(line.split(",") for line in table.splitlines())
    object_part, live_part = text.split("Live Subject Prompts")

    def prompts(part):
        return [p.replace("{0} {1}", "{c}") for p in re.findall(r"'(.*?)'\.format\(unique_token, class_token\)", part)]

    return classes, prompts(object_part), prompts(live_part)


# ---- configs and concept folders to break ------------------------------------------------------------------------


def concept(folder: Path, n_photos: int = 5, meta: str | None = "class: dog\nkind: live\n") -> Path:
    """A concept folder with `n_photos` of the demo dog's photos and the given concept.yaml (None: no file)."""
    folder.mkdir(parents=True)
    photos = sorted(DEMO_DOG.glob("*.png"))
    for i in range(n_photos):
        shutil.copy(photos[i % len(photos)], folder / f"{i:02d}.png")
    if meta is not None:
        (folder / "concept.yaml").write_text(meta)
    return folder


def base_config(tmp_path: Path) -> dict:
    """The embedded default with its concepts replaced by one good concept folder under tmp_path/concepts."""
    raw = embedded()
    concept(tmp_path / "concepts" / "good_dog")
    raw["concepts_dir"] = "concepts"
    return raw


def write_config_file(tmp_path: Path, raw: dict | str) -> Path:
    """tmp_path/config.yaml with `raw` (a dict, or a file's text)."""
    path = tmp_path / "config.yaml"
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False))
    return path


def corrupt_photo(folder: Path) -> str:
    """Cut the concept folder's 01.png in half; returns its name."""
    data = (folder / "01.png").read_bytes()
    (folder / "01.png").write_bytes(data[: len(data) // 2])
    return "01.png"
