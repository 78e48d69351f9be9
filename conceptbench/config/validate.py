"""Read and check the workflow config: schema first, then what a schema cannot say (folders, names, methods).

Every problem becomes a ConfigError whose message names the config key and the fix, raised before any job runs.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from conceptbench.config import checks
from conceptbench.config.defaults import DEFAULTS
from conceptbench.config.reading import ConfigFileError, read_config_file
from conceptbench.config.schema import schema_errors
from conceptbench.inputs.concepts import Concept, ConceptError, discover_concepts
from conceptbench.inputs.prompts import context_by_kind


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


def validate_config(raw: dict, base_dir: str | Path = ".", warn=None) -> dict:
    """Return the config with defaults filled in, `concepts` resolved to Concept objects under `_concepts` and each
    method entry with its type's defaults under `_methods`.

    Raises ConfigError listing every problem found; `warn(message)` gets what is allowed but likely a mistake
    (default: printed to stderr).
    """
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping of settings (see config.yaml for an example)")
    errors = schema_errors(raw)
    if errors:  # the checks below assume the schema's types
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    config = _merge(DEFAULTS, raw)
    base_dir = Path(base_dir)

    from conceptbench.methods import method_params

    # The base model's family decides which methods apply and adds its own settings to each entry.
    family, problems = checks.base_model_family(config, base_dir)
    problems += checks.method_family_problems(family, config["methods"])
    methods = {}
    for name, entry in config["methods"].items():
        try:
            methods[name] = method_params(entry, family)
        except ValueError as exc:
            problems.append(f"methods.{name}: {exc}")
    problems += checks.method_extra_problems(methods)
    # Left out, the sampler is the family's default; where the family is not known yet, the jobs take it from the
    # loaded pipeline (diffusion/schedulers.use_scheduler).
    if family is not None and config["generation"]["scheduler"] is None:
        config["generation"]["scheduler"] = family.default_sampler
    problems += checks.sampler_problems(config, family)
    problems += checks.size_problems(config, family) + checks.snapshot_image_problems(config)
    problems += checks.prompt_problems(config)
    problems += checks.resource_problems(config)
    problems += checks.model_problems(config, base_dir)
    concepts, concept_errors = resolve_concepts(config, base_dir)
    problems += concept_errors
    keys = {name: f"concepts.{name}.images" if name in config["concepts"] else "concepts_dir" for name in concepts}
    image_problems, notes = checks.concept_problems(concepts, keys, config["resolution"])
    problems += image_problems + checks.prompt_kind_problems(config, concepts)
    problems += checks.prompt_length_problems(config, concepts, methods, base_dir)
    problems += _oracle_metric_problems(config, concepts)
    if problems:
        raise ConfigError("\n".join(f"- {p}" for p in problems))
    for note in notes:
        (warn or _print_warning)(note)
    config["_concepts"] = concepts
    config["_methods"] = methods  # each entry with its type's defaults filled in (the train rule's params)
    return config


def _print_warning(message: str) -> None:
    print(f"conceptbench: warning: {message}", file=sys.stderr)


def _oracle_metric_problems(config: dict, concepts: dict[str, Concept]) -> list[str]:
    """The world oracle judges world classes in world contexts only: say so before any job runs."""
    from conceptbench.scoring.registry import ORACLE_METRICS
    from conceptbench.world.vocabulary import CLASSES, parse_prompt

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
    missing: dict[Path, list[tuple[str, Path]]] = {}  # listed concepts without a folder, by the folder's parent
    if config.get("concepts_dir"):
        root = base_dir / Path(config["concepts_dir"]).expanduser()  # ~ as in model paths
        try:
            concepts.update(discover_concepts(root))
        except ConceptError as exc:
            problems.append(f"concepts_dir: {exc}")
    for name, entry in config["concepts"].items():
        if name in concepts:
            problems.append(f"concepts.{name}: a concept of that name is also in concepts_dir "
                            f"{config['concepts_dir']}; rename one of them")
            continue
        folder = base_dir / Path(entry["images"]).expanduser()
        if not folder.is_dir():
            missing.setdefault(folder.parent, []).append((name, folder))
            continue
        concepts[name] = Concept(name=name, folder=folder, class_noun=entry["class"], kind=entry.get("kind", "object"))
    for parent, folders in missing.items():
        if len(folders) > 1 and not parent.is_dir():  # one line for a data set that is not there (DreamBench's 30)
            names = ", ".join(name for name, _ in folders)
            problems.append(f"concepts ({names}): images: folder {parent} does not exist, so neither does any "
                            "concept folder in it; put the photos there (one folder of 3-10 photos per concept) "
                            "or fix the paths")
            continue
        problems += [f"concepts.{name}.images: folder {folder} does not exist; point it at a folder of 3-10 photos "
                     "of the concept" for name, folder in folders]
    if not concepts and not problems:
        problems.append("no concepts: set concepts_dir to a folder of concept folders, or list them under concepts:")
    return concepts, problems


def load_config_file(path: str | Path, base_dir: str | Path | None = None) -> dict:
    """Read (strictly: see reading.py) and check a config file, as the workflow does at start-up; every problem
    names the file."""
    path = Path(path)
    try:
        raw = read_config_file(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return validate_config(raw, base_dir if base_dir is not None else path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}:\n{exc}") from None
