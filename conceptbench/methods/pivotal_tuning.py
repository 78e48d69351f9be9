"""Pivotal tuning: a new token embedding and a UNet LoRA trained together, as in the pivotal-tuning LoRA trainers
(cloneofsimo/lora; diffusers' advanced_diffusion_training/train_dreambooth_lora_sd15_advanced.py).

The concept is "<concept> <class noun>" ("a photo of <blue_dog> dog"): the token starts from the class noun's
embedding, as in Textual Inversion, and learns at `token_learning_rate` (default: the LoRA's rate) while the LoRA
adapts the UNet. Saved as Textual Inversion's learned_embeds.safetensors beside LoRA's
pytorch_lora_weights.safetensors: `pipe.load_textual_inversion(...)` then `pipe.load_lora_weights(...)` load it.
"""

from __future__ import annotations

from pathlib import Path

from conceptbench.inputs.prompts import training_prompt
from conceptbench.methods import lora, textual_inversion

ARTIFACT = lora.ARTIFACT
DEFAULTS = {
    "placeholder": None,  # None: "<concept name>"
    "token_learning_rate": None,  # None: learning_rate
    "rank": 4,
    "alpha": 4,
    "target_modules": lora.TARGET_PRESETS["attention"],
    "use_dora": False,
    "prior_preservation": False,
    "prior_loss_weight": 1.0,
}
SCHEMA = {"token_learning_rate": {"$ref": "#/$defs/positive_number"}}


def concept_phrase(concept_name: str, class_noun: str, params: dict) -> str:
    return f"{textual_inversion.placeholder_token(concept_name, params)} {class_noun}"


def added_tokens(concept_name: str, params: dict) -> list[str]:
    return textual_inversion.added_tokens(concept_name, params)  # its token is Textual Inversion's


def uses_prior(params: dict) -> bool:
    return bool(params["prior_preservation"])


def prepare(pipe, concept_name: str, class_noun: str, params: dict):
    from conceptbench.methods.training import TrainingSetup

    token_setup = textual_inversion.prepare(pipe, concept_name, class_noun, params)
    trainable = {**token_setup.trainable, **lora.add_denoiser_adapter(pipe, {**params, "train_text_encoder": False})}
    # add_denoiser_adapter froze the text encoders: the embedding matrices train again (their other rows are put back).
    for weight in token_setup.trainable.values():
        weight.requires_grad_(True)
    token_lr = params["token_learning_rate"]
    phrase = concept_phrase(concept_name, class_noun, params)
    return TrainingSetup(
        trainable=trainable,
        instance_prompt=training_prompt(phrase),
        class_prompt=training_prompt(class_noun) if uses_prior(params) else None,
        train_text_encoder=True,  # the prompt is encoded every step, with gradients to the token
        after_step=token_setup.after_step,
        lr_scales={} if token_lr is None else {name: token_lr / params["learning_rate"]
                                                for name in token_setup.trainable},
        extra=token_setup.extra,
    )


def save(pipe, setup, out_dir: Path, params: dict) -> None:
    textual_inversion.save(pipe, setup, out_dir, params)
    lora.save_lora(pipe, out_dir, text_encoder=False)


def load(base_model, checkpoint_dir, params: dict):
    from conceptbench.diffusion.pipelines import load_pipeline

    pipe = load_pipeline(base_model)
    textual_inversion.load_token(pipe, checkpoint_dir)
    pipe.load_lora_weights(str(checkpoint_dir), weight_name=ARTIFACT)
    return pipe
