"""Start-up checks of what a schema cannot say: each returns the problems it finds, as messages naming the key
or file and the fix, so that the config loader reports all of them at once before any job runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from conceptbench.diffusion.families import source_family
from conceptbench.diffusion.sources import source_problems
from conceptbench.diffusion.tokenizers import TokenizerUnavailable, base_model_tokenizers
from conceptbench.gpus import Devices, too_many_gpus
from conceptbench.inputs.concepts import KINDS, Concept, ConceptError, check_concept_images
from conceptbench.inputs.prompts import (
    baseline_prompt,
    context_by_kind,
    context_templates,
    fill,
    images_per_prompt,
    prompt_ids,
)
from conceptbench.scoring.registry import is_per_image

_log = logging.getLogger(__name__)

# The keys `resources:` may use: the rules' names, one `features` for the three features rules. Plan.resources
# refuses any other name a rule file asks for; tests/unit/config/test_schema.py checks that every key is asked for.
RESOURCE_KEYS = ("aggregate", "base_model", "baselines", "class_images", "extractor_model", "features", "generate",
                 "grid", "metrics", "prepare_concept", "scatter", "tradeoff", "train", "world_quality")
# The VAE of every family downsamples 8x, so the images' side must be a multiple of 8 (or of the family's
# size_multiple, where it patches the latents too).
LATENT_FACTOR = 8
# FID and KID estimate a covariance or an unbiased MMD from each image set: at least 2 images per set.
MIN_IMAGES_PER_SET = 2


def model_problems(config: dict, base_dir: Path) -> list[str]:
    problems = source_problems("base_model", config["base_model"], base_dir, "base_model")
    for extractor, source in config["extractors"].items():
        problems += source_problems(f"extractors.{extractor}", source, base_dir, extractor)
    return problems


def base_model_family(config: dict, base_dir: Path) -> tuple[object | None, list[str]]:
    """(the base model's family, or None where this machine's files cannot tell yet; problems): a pipeline of no
    family is refused here by name."""
    try:
        return source_family(config["base_model"], base_dir), []
    except ValueError as exc:
        return None, [f"base_model: {exc}"]


def method_family_problems(family, entries: dict) -> list[str]:
    """Each method entry whose type does not apply to the base model's family, by name, with the reason."""
    if family is None:
        return []
    problems = []
    for name, entry in entries.items():
        reason = family.method_refusal(entry["type"])
        if reason is not None:
            problems.append(f"methods.{name}: {entry['type']} is refused on {family.title} models: {reason}")
        reason = family.loss_option_refusal(entry)
        if reason is not None:
            problems.append(f"methods.{name}: {reason}")
        reason = family.text_encoder_refusal(entry)
        if reason is not None:
            problems.append(f"methods.{name}: {reason}")
    return problems


def sampler_problems(config: dict, family) -> list[str]:
    """A generation.scheduler that does not fit the base model's family (left out, it is the family's own), and
    sampler steps (of the generations and of the class images) too few for it."""
    if family is None:
        return []
    problems = []
    name = config["generation"]["scheduler"]
    reason = None if name is None else family.sampler_refusal(name)
    if reason is not None:
        problems.append(f"generation.scheduler: {reason}")
    for section in ("generation", "prior"):
        reason = family.steps_refusal(config[section]["steps"])
        if reason is not None:
            problems.append(f"{section}.steps: {reason}")
    return problems


def size_problems(config: dict, family=None) -> list[str]:
    problems = []
    multiple, why = ((family.size_multiple, family.size_reason) if family is not None
                     else (LATENT_FACTOR, "the VAE works on 8x smaller latents"))
    if config["resolution"] % multiple:
        lower = max(multiple, config["resolution"] // multiple * multiple)
        problems.append(f"resolution: {config['resolution']} is not a multiple of {multiple} ({why}); use e.g. "
                        f"{lower} or {lower + multiple}")
    set_metrics = [m for m in config["metrics"] if not is_per_image(m)]
    num_images = config["generation"]["num_images"]
    fewest = min(num_images.values()) if isinstance(num_images, dict) else num_images
    if set_metrics and fewest < MIN_IMAGES_PER_SET:
        problems.append(f"generation.num_images: {set_metrics} compare image sets and need at least "
                        f"{MIN_IMAGES_PER_SET} images per prompt, not {fewest}; "
                        "raise generation.num_images or remove these metrics")
    return problems


def snapshot_image_problems(config: dict) -> list[str]:
    """generation.snapshot_images may only ask for fewer images than num_images (the first seeds of each prompt's)."""
    generation = config["generation"]
    if generation["snapshot_images"] is None:
        return []
    more = [pid for pid in ("plain", "context")
            if images_per_prompt(generation["snapshot_images"], pid) > images_per_prompt(generation["num_images"], pid)]
    if not more:
        return []
    return [f"generation.snapshot_images: {generation['snapshot_images']} asks more images of the "
            f"{' and '.join(more)} prompt(s) than generation.num_images ({generation['num_images']}); a snapshot's "
            "images are the first seeds of the final images': lower snapshot_images or remove it"]


def resource_problems(config: dict) -> list[str]:
    unknown = sorted(set(config["resources"]) - set(RESOURCE_KEYS))
    return [f"resources.{name}: there is no rule {name!r}; use one of {', '.join(RESOURCE_KEYS)}" for name in unknown]


def local_gpu_problems(config: dict, devices: Devices | None, scheduler_gpus: int | None, dry_run: bool
                       ) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a run whose jobs run on this machine (no cluster executor): `devices` are the GPUs it
    has (conceptbench.gpus.visible_devices; None where nothing needs them), `scheduler_gpus` Snakemake's own gpu
    limit (--resources gpu=N, which profiles/default/config.yaml sets to 1; None: no limit).

    Each GPU job leases a device of its own (conceptbench/gpus.py), so a limit that differs from the number of GPUs
    is safe, only wasteful: GPUs stay idle, or jobs wait for one while holding a core. It is said, not refused."""
    if devices is None:
        return [], []
    asked = config.get("gpus")
    if asked is not None and asked > len(devices.ids):
        return [f"gpus: {asked}, but {too_many_gpus(asked, devices)}"], []
    device = config["device"]
    if device != "cuda" or dry_run:
        return [], []
    if not devices.ids:
        return [f"device: cuda, but this machine has no GPU ({devices.source}) and the jobs run here (no cluster "
                "executor): run on a machine with a GPU, or on a cluster (--profile profiles/slurm); device: cpu "
                "would run here, and re-run every job made with device: cuda"], []
    n = asked if asked is not None else len(devices.ids)
    source = f"gpus: {asked}" if asked is not None else devices.source
    match = f"run with --resources gpu={n}"
    if scheduler_gpus is None:
        return [], [f"Snakemake has no gpu limit (no --resources gpu=N), so it may start more GPU jobs than the "
                    f"{n} GPU(s) this run has ({source}); those beyond them wait for a free GPU, each holding a "
                    f"core: {match}"]
    if scheduler_gpus < n:
        return [], [f"Snakemake's gpu limit is {scheduler_gpus} (--resources gpu={scheduler_gpus}; "
                    f"profiles/default/config.yaml sets gpu=1), but this run has {n} GPU(s) ({source}): at most "
                    f"{scheduler_gpus} GPU job(s) run at a time and {n - scheduler_gpus} GPU(s) stay idle; {match}, "
                    f"or set gpus: {scheduler_gpus} to say that you mean it"]
    if scheduler_gpus > n:
        return [], [f"Snakemake's gpu limit is {scheduler_gpus} (--resources gpu={scheduler_gpus}), but this run "
                    f"has {n} GPU(s) ({source}): GPU jobs beyond {n} wait for a free GPU, each holding a core; "
                    f"{match}"]
    return [], []


def method_extra_problems(methods: dict[str, dict]) -> list[str]:
    """Optional packages that method entries' settings need and this environment lacks (adamw8bit: bitsandbytes)."""
    from conceptbench.methods.extras import extra_problems

    return [f"methods.{name}.{problem}" for name, params in methods.items() for problem in extra_problems(params)]


def prompt_problems(config: dict) -> list[str]:
    try:
        prompt_ids(config["prompts"]["image"], context_templates(config["prompts"]["context"]))
    except ValueError as exc:
        return [str(exc)]
    return []


def prompt_length_problems(config: dict, concepts: dict[str, Concept], methods: dict[str, dict],
                           base_dir: Path) -> list[str]:
    """Prompts longer than the base model's text encoder reads, once each method's phrase (or, for the base model's
    baselines, the class noun) stands for {c}: the pipelines and the training loop cut them off without a word, and a
    concept phrase at the end would be lost. Skipped, and logged, where the tokenizers are not on this machine."""
    from conceptbench.methods import added_tokens, get_method

    if not concepts:  # no concept, no phrase for {c} (the concept checks say why)
        return []
    try:
        tokenizers = base_model_tokenizers(config["base_model"], base_dir)
    except TokenizerUnavailable as exc:
        _log.info("prompt lengths not checked at start-up: %s", exc)
        return []
    # Training adds a Textual Inversion placeholder as new tokens; added here too, it counts as the tokens it will
    # be, not as the characters the tokenizer reads now ('<blue_dog>': 1 token, not 10).
    new_tokens = sorted({token for name in concepts for params in methods.values()
                         for token in added_tokens(name, params)})
    for tokenizer in tokenizers.values():
        tokenizer.add_tokens(new_tokens)

    # (key, template) -> the phrase for {c} -> (the prompt it makes, who says it)
    uses: dict[tuple[str, str], dict[str, tuple[str, list[str]]]] = {}
    mode = config["generation"]["baseline_phrase"]
    for key, template, kinds in _prompt_keys(config["prompts"]):
        phrases = uses.setdefault((key, template), {})
        for concept in (c for c in concepts.values() if c.kind in kinds):
            for name, params in methods.items():
                phrase = get_method(params["type"]).concept_phrase(concept.name, concept.class_noun, params)
                phrases.setdefault(phrase, (fill(template, phrase), []))[1].append(f"{name} on {concept.name}")
            # The base model's baselines: the class noun for {c}, or nothing (baseline_phrase: empty).
            phrase = concept.class_noun if mode == "class" else ""
            phrases.setdefault(phrase, (baseline_prompt(template, concept.class_noun, mode), []))[1].append(
                f"the base model on {concept.name}")
    prompts = sorted({prompt for phrases in uses.values() for prompt, _ in phrases.values()})
    # Counted with the start and end tokens, as the encoders get them; verbose=False: no warning about the length.
    counts = {name: dict(zip(prompts, map(len, tokenizer(prompts, verbose=False).input_ids)))
              for name, tokenizer in tokenizers.items()}
    problems = []
    for (key, template), phrases in uses.items():
        over = sorted(((counts[name][prompt], name, phrase) for phrase, (prompt, _) in phrases.items()
                       for name, tokenizer in tokenizers.items() if counts[name][prompt] > tokenizer.model_max_length),
                      reverse=True)
        if not over:
            continue
        count, name, phrase = over[0]
        others = sorted({p for _, _, p in over} - {phrase})
        problems.append(
            f"{key}: {_shortened(template)!r} is {count} tokens (start and end included) with {phrase!r} for {{c}} "
            f"({_listed(phrases[phrase][1])}), and base_model {config['base_model']}'s text encoder reads "
            f"{tokenizers[name].model_max_length} ({name}'s model_max_length): it would cut off the rest without a "
            "word. Shorten the prompt" + (f"; it is too long with {_listed([repr(p) for p in others])} too"
                                          if others else ""))
    return problems


def _shortened(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def _listed(items: list[str], most: int = 3) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _prompt_keys(prompts: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """(config key, template, the concept kinds it is for) of the image prompt and every context prompt."""
    keys = [("prompts.image", prompts["image"], KINDS)]
    context = prompts["context"]
    if isinstance(context, Mapping):
        keys += [(f"prompts.context.{kind}.{i}", t, (kind,)) for kind, listed in context.items()
                 for i, t in enumerate(listed)]
    else:
        keys += [(f"prompts.context.{i}", t, KINDS) for i, t in enumerate(context)]
    return keys


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
