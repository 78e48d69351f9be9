"""The registry of fine-tuning methods: config `type:` -> the module that implements it.

Each method module exposes:
- `DEFAULTS`: its hyperparameters and their default values (config entries override them);
- `concept_phrase(concept_name, class_noun, params)`: the words that stand for the concept in prompts;
- `uses_prior(params)`: whether it needs the class images of the concept's class;
- `prepare(pipe, concept_name, class_noun, params) -> TrainingSetup`: make the pipeline trainable its way;
  (torch, diffusers and peft are imported inside these functions: planning the workflow needs none of them)
- `save(pipe, setup, out_dir, params)`: write the artifact a stock diffusers call loads;
- `load(base_model, checkpoint_dir, params) -> StableDiffusionPipeline`: that stock call.
"""

from __future__ import annotations

from types import ModuleType

from . import custom_diffusion, dreambooth, lora, pivotal_tuning, textual_inversion

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
}


def get_method(method_type: str) -> ModuleType:
    try:
        return METHOD_TYPES[method_type]
    except KeyError:
        known = ", ".join(sorted(METHOD_TYPES))
        raise ValueError(f"unknown method type {method_type!r}; known types: {known}") from None


def method_params(entry: dict) -> dict:
    """A config method entry with every default filled in (the dict that reaches a rule as `params:`)."""
    module = get_method(entry["type"])
    params = {**COMMON_DEFAULTS, **module.DEFAULTS, **entry}
    unknown = sorted(set(params) - set(COMMON_DEFAULTS) - set(module.DEFAULTS) - {"type"})
    if unknown:
        raise ValueError(f"method type {entry['type']!r} has no setting(s) {unknown}; "
                         f"allowed: {sorted(set(COMMON_DEFAULTS) | set(module.DEFAULTS))}")
    late = [step for step in params["eval_steps"] if step >= params["steps"]]
    if late:
        raise ValueError(f"eval_steps {late} are not below steps ({params['steps']}), which is evaluated anyway; "
                         "remove them or raise steps")
    params["eval_steps"] = sorted(params["eval_steps"])
    return params
