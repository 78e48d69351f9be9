"""The registry of fine-tuning methods: config `type:` -> the module that implements it.

Each method module exposes:
- `DEFAULTS`: its hyperparameters and their default values (config entries override them);
- `SCHEMA` (optional): the config schema of the settings only this type has (shared ones are in SHARED_SCHEMA);
- `concept_phrase(concept_name, class_noun, params)`: the words that stand for the concept in prompts;
- `added_tokens(concept_name, params)` (optional; none if absent): the tokens `prepare` adds to the tokenizer,
  one per learned vector, so that start-up counts a prompt's tokens as the text encoder will see them;
- `uses_prior(params)`: whether it needs the class images of the concept's class;
- `prepare(pipe, concept_name, class_noun, params) -> TrainingSetup`: make the pipeline trainable its way;
  (torch, diffusers and peft are imported inside these functions: planning the workflow needs none of them)
- `save(pipe, setup, out_dir, params)`: write the artifact a stock diffusers call loads;
- `load(base_model, checkpoint_dir, params) -> the family's pipeline`: that stock call.

Which types apply to which model family, and the family's own settings, are the family's
(conceptbench/diffusion/families/).
"""

from __future__ import annotations

from types import ModuleType

from conceptbench.diffusion.families import FAMILIES, FAMILY_SETTINGS_SCHEMA
from conceptbench.methods import custom_diffusion, dreambooth, lora, pivotal_tuning, textual_inversion

METHOD_TYPES: dict[str, ModuleType] = {
    "textual_inversion": textual_inversion,
    "dreambooth": dreambooth,
    "lora": lora,
    "pivotal_tuning": pivotal_tuning,
    "custom_diffusion": custom_diffusion,
}

# Hyperparameters every method has (the shared training loop reads them).
COMMON_DEFAULTS = {
    "steps": 500,
    "batch_size": 1,
    "learning_rate": 1e-4,
    "scale_lr": False,
    "lr_warmup_steps": 0,
    "adam_weight_decay": 1e-2,
    "max_grad_norm": 1.0,
    "seed": 0,
    "checkpoint_every": 100,
    "mixed_precision": "no",
    # Steps at which the training also saves a stock-loadable snapshot, evaluated like the final artifact
    # (the trade-off curves); each must be below `steps`, which is always evaluated.
    "eval_steps": [],
    # Memory and loss options (conceptbench/methods/memory.py, diffusion/families/noise_prediction.py); these defaults change nothing.
    "gradient_checkpointing": False,
    "frozen_dtype": "float32",
    "optimizer": "adamw",
    "snr_gamma": None,
    "noise_offset": 0.0,
}


# JSON-schema fragments of the settings ($defs of conceptbench/config/schema.yaml): those every method has, and
# those several method types share. A setting of one type alone is declared in its module's SCHEMA.
COMMON_SCHEMA = {
    "steps": {"$ref": "#/$defs/positive_int"},
    "batch_size": {"$ref": "#/$defs/positive_int"},
    "learning_rate": {"$ref": "#/$defs/positive_number"},
    "scale_lr": {"type": "boolean"},
    "lr_warmup_steps": {"$ref": "#/$defs/non_negative_int"},
    "adam_weight_decay": {"type": "number", "minimum": 0},
    "max_grad_norm": {"type": "number", "minimum": 0},
    "seed": {"$ref": "#/$defs/non_negative_int"},
    "checkpoint_every": {"$ref": "#/$defs/non_negative_int"},
    "eval_steps": {"type": "array", "uniqueItems": True, "items": {"$ref": "#/$defs/positive_int"},
                   "description": "steps at which a snapshot is saved and evaluated, each below steps"},
    "mixed_precision": {"enum": ["no", "fp16", "bf16"]},
    "gradient_checkpointing": {"type": "boolean"},
    "frozen_dtype": {"enum": ["float32", "compute"],
                     "description": "compute: the parameters that do not train are stored in mixed_precision's dtype "
                                    "(fp16 or bf16) to save memory; float32: they stay float32"},
    "optimizer": {"enum": ["adamw", "adamw8bit"],
                  "description": "adamw (torch), or adamw8bit (bitsandbytes' 8-bit AdamW: pip install -e '.[adamw8bit]')"},
    "snr_gamma": {"type": ["number", "null"], "exclusiveMinimum": 0,
                  "description": "Min-SNR weighting's gamma must be a positive number (5.0, as Hang et al. 2023 "
                                 "recommend), or null for no weighting"},
    "noise_offset": {"type": "number", "minimum": 0, "maximum": 1,
                     "description": "the offset noise's scale must be from 0 (none) to 1; diffusers' trainers "
                                    "suggest about 0.1"},
}
SHARED_SCHEMA = {
    "placeholder": {"type": "string", "pattern": "^\\S+$",
                    "description": "must be one word without spaces, e.g. <my_toy>"},
    "identifier": {"type": "string", "pattern": "^\\S+$", "description": "must be one word without spaces, e.g. sks"},
    "train_text_encoder": {"type": "boolean"},
    "prior_preservation": {"type": "boolean"},
    "prior_loss_weight": {"type": "number", "minimum": 0},
    "rank": {"$ref": "#/$defs/positive_int"},
    "alpha": {"$ref": "#/$defs/positive_number"},
    "target_modules": {"anyOf": [{"type": "array", "minItems": 1, "items": {"type": "string"}},
                                 {"enum": ["attention", "attention_and_feedforward"]}],
                       "description": "a list of module names, or a preset: attention, attention_and_feedforward"},
    "use_dora": {"type": "boolean"},
}


def settings_schema() -> dict:
    """The config schema of a method entry's settings: `type` (one of the registered types) and every setting of
    every type, each from COMMON_SCHEMA, SHARED_SCHEMA or its module's own SCHEMA, and the model families' own
    settings (flow matching's weighting_scheme, ...). Whether a setting belongs to the entry's type and the base
    model's family is method_params' check."""
    properties = {"type": {"enum": list(METHOD_TYPES)}, **COMMON_SCHEMA, **FAMILY_SETTINGS_SCHEMA}
    missing = sorted(set(COMMON_DEFAULTS) ^ set(COMMON_SCHEMA))
    if missing:
        raise TypeError(f"COMMON_DEFAULTS and COMMON_SCHEMA disagree on {missing}")
    for name, module in METHOD_TYPES.items():
        own = getattr(module, "SCHEMA", {})
        for key in module.DEFAULTS:
            fragment = own.get(key, SHARED_SCHEMA.get(key))
            if fragment is None:
                raise TypeError(f"method type {name!r}: setting {key!r} has no schema; declare it in "
                                f"{module.__name__}.SCHEMA")
            if properties.setdefault(key, fragment) != fragment:
                raise TypeError(f"method type {name!r}: setting {key!r} has another schema than in another type")
    return properties


def get_method(method_type: str) -> ModuleType:
    try:
        return METHOD_TYPES[method_type]
    except KeyError:
        known = ", ".join(sorted(METHOD_TYPES))
        raise ValueError(f"unknown method type {method_type!r}; known types: {known}") from None


def added_tokens(concept_name: str, params: dict) -> list[str]:
    """The new tokens a method entry's training adds to the tokenizer for a concept (none for most types)."""
    module = get_method(params["type"])
    return list(module.added_tokens(concept_name, params)) if hasattr(module, "added_tokens") else []


def method_params(entry: dict, family=None) -> dict:
    """A config method entry with every default filled in (the dict that reaches a rule as `params:`).

    `family` (a conceptbench.diffusion.families Family: the base model's) adds its own settings and defaults (FLUX.1:
    flow matching's, LoRA's targets); SD-1.x and SDXL add none, so their entries keep the settings they always had.
    Without a family (a hub model start-up could not read yet) the families' settings are taken as given."""
    module = get_method(entry["type"])
    own = family.method_defaults(entry["type"]) if family is not None else {}
    params = {**COMMON_DEFAULTS, **module.DEFAULTS, **own, **entry}
    allowed = set(COMMON_DEFAULTS) | set(module.DEFAULTS) | set(own)
    if family is None:
        allowed |= set(FAMILY_SETTINGS_SCHEMA)
    unknown = sorted(set(params) - allowed - {"type"})
    if unknown:
        raise ValueError(f"method type {entry['type']!r} has no setting(s) {unknown}{_family_hint(unknown, family)}; "
                         f"allowed: {sorted(allowed)}")
    late = [step for step in params["eval_steps"] if step >= params["steps"]]
    if late:
        raise ValueError(f"eval_steps {late} are not below steps ({params['steps']}), which is evaluated anyway; "
                         "remove them or raise steps")
    params["eval_steps"] = sorted(params["eval_steps"])
    if params["frozen_dtype"] == "compute" and params["mixed_precision"] == "no":
        raise ValueError("frozen_dtype compute stores the frozen modules in mixed_precision's dtype, but "
                         "mixed_precision is no; set mixed_precision: fp16 or bf16, or frozen_dtype: float32")
    return params


def _family_hint(keys: list[str], family) -> str:
    """Where settings of another model family are the unknown ones, say whose they are."""
    owners = sorted({f.title for f in FAMILIES.values() if set(keys) & set(f.settings)})
    if not owners:
        return ""
    on = f", not of {family.title} (the base model's family)" if family is not None else ""
    listed = owners[0] if len(owners) == 1 else f"{', '.join(owners[:-1])} and {owners[-1]}"
    return f" ({', '.join(k for k in keys if k in FAMILY_SETTINGS_SCHEMA)}: settings of {listed}{on})"
