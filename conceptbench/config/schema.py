"""The config schema: schema.yaml (package data) with the parts that registries own filled in at load time, so that
adding a method type or a metric touches its own module only:
- a method entry's `type` and settings: conceptbench.methods.settings_schema();
- the metric names: conceptbench.scoring.registry.METRIC_NAMES;
- the schedulers: conceptbench.diffusion.schedulers.SCHEDULERS (null: the base model's family's default).
"""

from __future__ import annotations

import functools
import re
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
    properties["generation"]["properties"]["scheduler"] = {"enum": [*SCHEDULERS, None]}
    return schema


# YAML 1.1 (PyYAML, and so Snakemake's --configfile) reads an exponent without a decimal point as text: 7e-3 is a
# string, 7.0e-3 a number.
_EXPONENT_WITHOUT_POINT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


def _strict_validator():
    """Draft 2020-12, except that an integer is a whole number written as one: JSON Schema counts 32.0 as an
    integer, and a job then fails on it after Snakemake has deleted the old output."""
    import jsonschema

    def is_integer(checker, instance) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", is_integer)
    return jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)


def _type_hint(error) -> str:
    """Why a value a user meant as a number is not one of the wanted type."""
    wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    if isinstance(error.instance, float) and "integer" in wanted:
        return f"; write a whole number without a decimal point ({int(error.instance)}, not {error.instance})" \
            if error.instance.is_integer() else "; it must be a whole number"
    if isinstance(error.instance, str) and _EXPONENT_WITHOUT_POINT.fullmatch(error.instance):
        mantissa, _, exponent = error.instance.lower().partition("e")
        return (f"; YAML reads a number with an exponent but no decimal point as text: write {mantissa}.0e{exponent}")
    return ""


_RANGE_AND_CHOICE = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "enum")


def schema_errors(config: dict) -> list[str]:
    validator = _strict_validator()(config_schema())
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
        elif error.validator == "type":
            messages.append(f"{key}: {error.message}{_type_hint(error)}")
        elif error.validator in _RANGE_AND_CHOICE and "description" in error.schema:
            # A setting's description says what it takes (snr_gamma: "a positive number ..., or null").
            messages.append(f"{key}: {error.message}; {error.schema['description']}")
        else:
            messages.append(f"{key}: {error.message}")
    return messages
