"""Read and check the workflow config: schema first, then what a schema cannot say (folders, names, methods).

Every problem becomes a ConfigError whose message names the config key and the fix, raised before any job runs.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

from . import checks
from .concepts import Concept, ConceptError, discover_concepts
from .config_file import ConfigFileError, read_config_file
from .prompts import context_by_kind

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

# Settings a config may leave out. Values follow the published SD-1.5 recipes where one exists.
DEFAULTS = {
    "device": "auto",
    "seed": 0,
    "concepts": {},
    "prior": {"num_images": 200, "steps": 50, "guidance_scale": 7.5, "seed": 100000},
    "generation": {"num_images": 5, "steps": 50, "guidance_scale": 7.5, "scheduler": "ddim", "seed": 0,
                   "batch_size": 5, "baseline_phrase": "class"},
    "prompts": {
        "image": "a photo of {c}",
        "context": [
            "a photo of {c} in a forest", "a photo of {c} in a city", "a photo of {c} in a desert",
            "a photo of {c} in a field", "a photo of {c} in a kitchen", "a photo of {c} in a bedroom",
            "an oil painting of {c}", "Elmo holding {c}", "a painting of {c} in a forest",
        ],
    },
    "extractors": {"clip": "openai/clip-vit-base-patch32", "inception": "builtin:tiny", "dino": "facebook/dino-vits16",
                   "oracle": "builtin:world"},
    "metrics": ["image_similarity_clip", "prompt_similarity_clip", "image_fid_inception", "prompt_fid_inception",
                "image_kid_inception", "prompt_kid_inception", "image_similarity_dino", "text_alignment_clip"],
    "bootstrap_samples": 1000,  # resamples behind every confidence interval (conceptbench/uncertainty.py)
    "plots": {"grid_thumb": 96, "error_bars": "ci"},
    "world_quality": {"images_per_caption": 2},
    "resources": {},
    # "seeds": [0, 1, 2] trains every method entry once per training seed; absent: once, with the entry's seed.
}


class ConfigError(ValueError):
    """A config problem, explained with the key and the fix."""


def _merge(defaults: dict, given: dict) -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in ("concepts", "resources"):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _schema_errors(config: dict) -> list[str]:
    import jsonschema

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        # A bad entry name fails inside `propertyNames`, reported under the keyword that failed there.
        if "propertyNames" in error.schema_path:
            bad = error.instance
            if error.validator == "not":
                messages.append(f"{key}: name {bad!r} is reserved ('reference', 'baseline' and 'targets' name the "
                                "workflow's own image sets); rename the entry")
            else:
                messages.append(f"{key}: name {bad!r} is not allowed: use letters, digits, '_' and '-' only, "
                                "starting with a letter or digit (no '/', spaces or dots); rename the entry")
        elif error.validator == "pattern" and "description" in error.schema:
            # The schema's description of a patterned string says what it must look like.
            messages.append(f"{key}: {error.instance!r} is not allowed: {error.schema['description']}")
        elif error.validator == "additionalProperties":
            messages.append(f"{key}: {error.message}; remove it or fix its spelling (see {SCHEMA_PATH.name})")
        else:
            messages.append(f"{key}: {error.message}")
    return messages


def validate_config(raw: dict, base_dir: str | Path = ".", warn=None) -> dict:
    """Return the config with defaults filled in and `concepts` resolved to Concept objects under `_concepts`.

    Raises ConfigError listing every problem found; `warn(message)` gets what is allowed but likely a mistake
    (default: printed to stderr).
    """
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping of settings (see config.yaml for an example)")
    errors = _schema_errors(raw)
    if errors:  # the checks below assume the schema's types
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    config = _merge(DEFAULTS, raw)
    base_dir = Path(base_dir)

    from .methods import method_params

    problems = []
    for name, entry in config["methods"].items():
        try:
            method_params(entry)
        except ValueError as exc:
            problems.append(f"methods.{name}: {exc}")
    problems += checks.size_problems(config) + checks.prompt_problems(config) + checks.resource_problems(config)
    problems += checks.model_problems(config, base_dir)
    concepts, concept_errors = resolve_concepts(config, base_dir)
    problems += concept_errors
    keys = {name: f"concepts.{name}.images" if name in config["concepts"] else "concepts_dir" for name in concepts}
    image_problems, notes = checks.concept_problems(concepts, keys, config["resolution"])
    problems += image_problems + checks.prompt_kind_problems(config, concepts)
    problems += _oracle_metric_problems(config, concepts)
    if problems:
        raise ConfigError("\n".join(f"- {p}" for p in problems))
    for note in notes:
        (warn or _print_warning)(note)
    config["_concepts"] = concepts
    return config


def _print_warning(message: str) -> None:
    print(f"conceptbench: warning: {message}", file=sys.stderr)


def _oracle_metric_problems(config: dict, concepts: dict[str, Concept]) -> list[str]:
    """The world oracle judges world classes in world contexts only: say so before any job runs."""
    from .metrics import ORACLE_METRICS
    from .world.vocabulary import CLASSES, parse_prompt

    asked = [m for m in config["metrics"] if m in ORACLE_METRICS]
    if not asked:
        return []
    problems = [f"metrics: {asked} need concepts of world classes ({', '.join(CLASSES)}), but concept "
                f"{concept.name!r} is a {concept.class_noun!r}; remove these metrics for real concepts"
                for concept in concepts.values() if concept.class_noun not in CLASSES]
    listed = [p for prompts in context_by_kind(config["prompts"]["context"]).values() for p in prompts]
    if "context_accuracy_oracle" in asked and not any(parse_prompt(p) for p in listed):
        problems.append("metrics: context_accuracy_oracle needs context prompts in the world's wording, e.g. "
                        "'a photo of {c} in a forest' or 'an oil painting of {c}'; none of prompts.context is")
    return problems


def resolve_concepts(config: dict, base_dir: Path) -> tuple[dict[str, Concept], list[str]]:
    """The concepts of `concepts_dir` and `concepts:`, and the problems found finding them."""
    concepts: dict[str, Concept] = {}
    problems = []
    if config.get("concepts_dir"):
        root = base_dir / config["concepts_dir"]
        try:
            concepts.update(discover_concepts(root))
        except ConceptError as exc:
            problems.append(f"concepts_dir: {exc}")
    for name, entry in config["concepts"].items():
        if name in concepts:
            problems.append(f"concepts.{name}: a concept of that name is also in concepts_dir "
                            f"{config['concepts_dir']}; rename one of them")
            continue
        folder = base_dir / entry["images"]
        if not folder.is_dir():
            problems.append(f"concepts.{name}.images: folder {folder} does not exist; "
                            "point it at a folder of 3-10 photos of the concept")
            continue
        concepts[name] = Concept(name=name, folder=folder, class_noun=entry["class"], kind=entry.get("kind", "object"))
    if not concepts and not problems:
        problems.append("no concepts: set concepts_dir to a folder of concept folders, or list them under concepts:")
    return concepts, problems


def load_config_file(path: str | Path, base_dir: str | Path | None = None) -> dict:
    """Read (strictly: see config_file.py) and check a config file, as the workflow does at start-up."""
    path = Path(path)
    try:
        raw = read_config_file(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    return validate_config(raw, base_dir if base_dir is not None else path.parent)


def main(argv: list[str] | None = None) -> int:
    """`python -m conceptbench.config FILE [BASE_DIR]`: every problem of a config file, without Snakemake."""
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python -m conceptbench.config CONFIG_FILE [FOLDER_PATHS_ARE_RELATIVE_TO (default: .)]",
              file=sys.stderr)
        return 2
    try:
        config = load_config_file(args[0], args[1] if len(args) > 1 else ".")
    except ConfigError as exc:
        print(f"config problem in {args[0]}:\n{exc}", file=sys.stderr)
        return 1
    print(f"{args[0]}: ok ({len(config['_concepts'])} concepts, {len(config['methods'])} methods)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
