"""Model families: what differs between SD-1.x (`sd1`), SDXL (`sdxl`), FLUX.1 (`flux1`), FLUX.2 [klein]
(`flux2_klein`) and Qwen-Image (`qwen_image`), one module each.

Each module's FAMILY (a `base.Family`) says its pipeline class, how prompts become conditioning, how latents become
the model's input, the training objective, the model call and guidance, LoRA's default targets and which method
types apply; the shared training loop (conceptbench/methods/training.py) asks it and does the rest. A family is
read from the base model's model_index.json (`_class_name`). Adding one: a module with its FAMILY, a line in
FAMILIES, a tiny model in diffusion/tiny.py and its tests beside tests/unit/methods/test_flux.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from conceptbench.diffusion import sources
from conceptbench.diffusion.families import flux1, flux2_klein, qwen_image, sd1, sdxl
from conceptbench.diffusion.families.base import Family
from conceptbench.diffusion.sources import pipeline_folder, resolve

FAMILIES: dict[str, Family] = {
    family.pipeline_class: family
    for family in (sd1.FAMILY, sdxl.FAMILY, flux1.FAMILY, flux2_klein.FAMILY, qwen_image.FAMILY)}
BUILTIN_FAMILIES = {sources.BUILTIN_WORLD: sd1.FAMILY, sources.BUILTIN_TINY: sd1.FAMILY,
                    sources.BUILTIN_TINY_XL: sdxl.FAMILY, sources.BUILTIN_TINY_FLUX: flux1.FAMILY,
                    sources.BUILTIN_TINY_FLUX2_KLEIN: flux2_klein.FAMILY,
                    sources.BUILTIN_TINY_QWEN_IMAGE: qwen_image.FAMILY}
# The presets' hub models, whose family start-up knows before they are downloaded (a method entry's defaults and
# the sampler depend on it, so a run's plan must not change when the model arrives in the cache).
HUB_FAMILIES = {"stable-diffusion-v1-5/stable-diffusion-v1-5": sd1.FAMILY, "runwayml/stable-diffusion-v1-5": sd1.FAMILY,
                "CompVis/stable-diffusion-v1-4": sd1.FAMILY, "stabilityai/stable-diffusion-xl-base-1.0": sdxl.FAMILY,
                "black-forest-labs/FLUX.1-dev": flux1.FAMILY,
                "black-forest-labs/FLUX.2-klein-base-4B": flux2_klein.FAMILY, "Qwen/Qwen-Image": qwen_image.FAMILY}
# Every family's own method settings (flow matching's weighting_scheme, ...) and their config schema.
FAMILY_SETTINGS_SCHEMA = {key: fragment for family in FAMILIES.values()
                          for key, fragment in family.settings_schema.items()}


def family_named(class_name: str | None, model) -> Family:
    """The family of a pipeline class; any other is refused by name."""
    if class_name not in FAMILIES:
        known = sorted(FAMILIES)
        raise ValueError(f"{model} is a {class_name}; conceptbench runs {', '.join(known[:-1])} and {known[-1]} "
                         "models")
    return FAMILIES[class_name]


def family_of(pipe) -> Family:
    """The family of a loaded pipeline (of a subclass of a family's pipeline too)."""
    for cls in type(pipe).__mro__:
        if cls.__name__ in FAMILIES:
            return FAMILIES[cls.__name__]
    return family_named(type(pipe).__name__, type(pipe).__name__)


def model_family(model: str | Path) -> Family:
    """The family of a base model, from its model_index.json (a local folder's, or the hub's, fetched alone)."""
    from diffusers import DiffusionPipeline

    model = resolve(model)
    index = Path(model) / "model_index.json"
    config = json.loads(index.read_text()) if index.is_file() else DiffusionPipeline.load_config(model)
    return family_named(config.get("_class_name"), model)


def source_family(source: str, base_dir: Path) -> Family | None:
    """The family of a config's base_model as far as this machine's files tell, downloading nothing: a builtin's,
    a local folder's, a hub model's copy in the Hugging Face cache or, not downloaded yet, a preset's (HUB_FAMILIES);
    None where it cannot be known yet (another hub model not downloaded, a folder without model_index.json: other
    checks report those). Raises ValueError for a pipeline of no family."""
    if source in BUILTIN_FAMILIES:
        return BUILTIN_FAMILIES[source]
    folder = pipeline_folder(source, base_dir)
    index = folder / "model_index.json" if folder is not None else None
    if index is None or not index.is_file():
        return HUB_FAMILIES.get(source)
    try:
        name = json.loads(index.read_text()).get("_class_name")
    except (OSError, ValueError):
        return None
    return family_named(name, source)
