"""Start-up checks of what a schema cannot say: each returns the problems it finds, as messages naming the key
or file and the fix, so that the config loader reports all of them at once before any job runs."""

from __future__ import annotations

from pathlib import Path

from conceptbench.diffusion.sources import source_problems
from conceptbench.inputs.concepts import Concept, ConceptError, check_concept_images
from conceptbench.inputs.prompts import context_by_kind, context_templates, prompt_ids
from conceptbench.scoring.registry import is_per_image

# The keys `resources:` may use: the rules' names, one `features` for the three features rules. Plan.resources
# refuses any other name a rule file asks for; tests/unit/config/test_schema.py checks that every key is asked for.
RESOURCE_KEYS = ("aggregate", "base_model", "baselines", "class_images", "extractor_model", "features", "generate",
                 "grid", "metrics", "prepare_concept", "scatter", "tradeoff", "train", "world_quality")
# The VAE of every SD family downsamples 8x, so the images' side must be a multiple of 8.
LATENT_FACTOR = 8
# FID and KID estimate a covariance or an unbiased MMD from each image set: at least 2 images per set.
MIN_IMAGES_PER_SET = 2


def model_problems(config: dict, base_dir: Path) -> list[str]:
    problems = source_problems("base_model", config["base_model"], base_dir, "base_model")
    for extractor, source in config["extractors"].items():
        problems += source_problems(f"extractors.{extractor}", source, base_dir, extractor)
    return problems


def size_problems(config: dict) -> list[str]:
    problems = []
    if config["resolution"] % LATENT_FACTOR:
        lower = max(LATENT_FACTOR, config["resolution"] // LATENT_FACTOR * LATENT_FACTOR)
        problems.append(f"resolution: {config['resolution']} is not a multiple of {LATENT_FACTOR} (the VAE works on "
                        f"{LATENT_FACTOR}x smaller latents); use e.g. {lower} or {lower + LATENT_FACTOR}")
    set_metrics = [m for m in config["metrics"] if not is_per_image(m)]
    num_images = config["generation"]["num_images"]
    fewest = min(num_images.values()) if isinstance(num_images, dict) else num_images
    if set_metrics and fewest < MIN_IMAGES_PER_SET:
        problems.append(f"generation.num_images: {set_metrics} compare image sets and need at least "
                        f"{MIN_IMAGES_PER_SET} images per prompt, not {fewest}; "
                        "raise generation.num_images or remove these metrics")
    return problems


def resource_problems(config: dict) -> list[str]:
    unknown = sorted(set(config["resources"]) - set(RESOURCE_KEYS))
    return [f"resources.{name}: there is no rule {name!r}; use one of {', '.join(RESOURCE_KEYS)}" for name in unknown]


def prompt_problems(config: dict) -> list[str]:
    try:
        prompt_ids(config["prompts"]["image"], context_templates(config["prompts"]["context"]))
    except ValueError as exc:
        return [str(exc)]
    return []


def prompt_kind_problems(config: dict, concepts: dict[str, Concept]) -> list[str]:
    """Context prompts given per kind must have a list for every kind a concept has."""
    by_kind = context_by_kind(config["prompts"]["context"])
    missing = sorted({c.kind for c in concepts.values()} - set(by_kind))
    return [f"prompts.context: no list for kind {kind!r}, the kind of concept(s) "
            f"{', '.join(sorted(c.name for c in concepts.values() if c.kind == kind))}; add "
            f"'{kind}:' with its prompts (or give one list for every kind)" for kind in missing]


def concept_problems(concepts: dict[str, Concept], keys: dict[str, str], resolution: int) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the concepts' photos, each read now; and class nouns that share a folder name.

    `keys` names the config key each concept comes from (concepts_dir or concepts.<name>.images).
    """
    problems, warnings = [], []
    for concept in concepts.values():
        try:
            warnings += check_concept_images(concept.folder, resolution)
        except ConceptError as exc:
            problems.append(f"{keys[concept.name]}: concept {concept.name}: {exc}")
    by_slug: dict[str, set[str]] = {}
    for concept in concepts.values():
        by_slug.setdefault(concept.class_slug, set()).add(concept.class_noun)
    for slug, nouns in sorted(by_slug.items()):
        if len(nouns) > 1:
            problems.append(f"class nouns {sorted(nouns)} are different words but share the folder name {slug!r} "
                            "(class images and baselines); write them the same way in every concept.yaml")
    return problems, warnings
