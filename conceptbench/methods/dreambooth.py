"""DreamBooth (Ruiz et al. 2023): fine-tune the UNet (optionally the text encoder) on "a photo of sks <class>",
with class-prior preservation on images of the class made by the base model."""

from __future__ import annotations

from pathlib import Path

from conceptbench.inputs.prompts import training_prompt

DEFAULTS = {
    "identifier": "sks",
    "train_text_encoder": False,
    "prior_preservation": True,
    "prior_loss_weight": 1.0,
    "save_half_precision": False,
}
SCHEMA = {"save_half_precision": {"type": "boolean"}}


def concept_phrase(concept_name: str, class_noun: str, params: dict) -> str:
    return f"{params['identifier']} {class_noun}"


def uses_prior(params: dict) -> bool:
    return bool(params["prior_preservation"])


def prepare(pipe, concept_name: str, class_noun: str, params: dict):
    from conceptbench.diffusion.pipelines import text_encoders
    from conceptbench.methods.training import TrainingSetup

    pipe.vae.requires_grad_(False)
    pipe.unet.requires_grad_(True)
    trainable = {f"unet.{n}": p for n, p in pipe.unet.named_parameters()}
    for name, _, encoder in text_encoders(pipe):  # SDXL has two
        encoder.requires_grad_(bool(params["train_text_encoder"]))
        if params["train_text_encoder"]:
            trainable.update({f"{name}.{n}": p for n, p in encoder.named_parameters()})
    phrase = concept_phrase(concept_name, class_noun, params)
    return TrainingSetup(
        trainable=trainable,
        instance_prompt=training_prompt(phrase),
        class_prompt=training_prompt(class_noun) if uses_prior(params) else None,
        train_text_encoder=bool(params["train_text_encoder"]),
        saves_frozen=True,  # the whole pipeline: its VAE (and frozen text encoders) are saved at full precision
    )


def save(pipe, setup, out_dir: Path, params: dict) -> None:
    import torch

    if params["save_half_precision"]:
        pipe.to(dtype=torch.float16)
    pipe.save_pretrained(out_dir, safe_serialization=True)


def load(base_model, checkpoint_dir, params: dict):
    from conceptbench.diffusion.pipelines import load_pipeline

    return load_pipeline(checkpoint_dir)
