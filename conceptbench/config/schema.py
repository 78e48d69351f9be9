"""The config schema: schema.yaml (package data) with the parts that registries own filled in at load time, so that
adding a method type or a metric touches its own module only:
- a method entry's `type` and settings: conceptbench.methods.settings_schema();
- the metric names: conceptbench.scoring.registry.METRIC_NAMES;
- the schedulers: conceptbench.diffusion.generation.SCHEDULERS.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


@functools.cache
def config_schema() -> dict:
    """The JSON schema every config is checked against."""
    from conceptbench.diffusion.schedulers import SCHEDULERS
    from conceptbench.methods import settings_schema
    from conceptbench.scoring.registry import METRIC_NAMES

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    properties = schema["properties"]
    properties["methods"]["additionalProperties"]["properties"] = settings_schema()
    properties["metrics"]["items"] = {"enum": list(METRIC_NAMES)}
    properties["generation"]["properties"]["scheduler"] = {"enum": list(SCHEDULERS)}
    return schema


def schema_errors(config: dict) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(config_schema())
    messages = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        # A bad entry name fails inside `propertyNames`, reported under the keyword that failed there.
        if "propertyNames" in error.schema_path:
            bad = error.instance
            if error.validator == "not":
                messages.append(f"{key}: name {bad!r} is reserved ('reference', 'base_model', 'baseline' and 'targets' "
                                "name the workflow's own rows and image sets); rename the entry")
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
