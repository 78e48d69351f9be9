"""LoRA (Hu et al. 2021) on the UNet attention projections, via peft, with optional class-prior preservation."""

from __future__ import annotations

from pathlib import Path

# LoRA names the concept as DreamBooth does ("sks dog") and may use the same class prior.
from .dreambooth import concept_phrase, uses_prior  # noqa: F401  (part of this method's interface)

ARTIFACT = "pytorch_lora_weights.safetensors"
DEFAULTS = {
    "identifier": "sks",
    "rank": 4,
    "alpha": 4,
    "target_modules": ["to_k", "to_q", "to_v", "to_out.0"],
    "prior_preservation": False,
    "prior_loss_weight": 1.0,
}


def prepare(pipe, concept_name: str, class_noun: str, params: dict):
    import torch
    from peft import LoraConfig

    from .training import TrainingSetup

    pipe.vae.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    pipe.unet.requires_grad_(False)
    # The adapter's random init must not depend on what ran before in this process.
    torch.manual_seed(params["seed"])
    pipe.unet.add_adapter(LoraConfig(r=params["rank"], lora_alpha=params["alpha"], init_lora_weights="gaussian",
                                     target_modules=list(params["target_modules"])))
    trainable = {n: p for n, p in pipe.unet.named_parameters() if p.requires_grad}
    phrase = concept_phrase(concept_name, class_noun, params)
    return TrainingSetup(
        trainable=trainable,
        instance_prompt=f"a photo of {phrase}",
        class_prompt=f"a photo of {class_noun}" if uses_prior(params) else None,
    )


def save(pipe, setup, out_dir: Path, params: dict) -> None:
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    from ..files import sort_safetensors_metadata

    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(out_dir), unet_lora_layers=layers, weight_name=ARTIFACT, safe_serialization=True,
        # Stored so that load_lora_weights applies alpha/rank scaling as trained.
        unet_lora_adapter_metadata=sorted_sets(pipe.unet.peft_config["default"].to_dict()),
    )
    sort_safetensors_metadata(out_dir / ARTIFACT)


def sorted_sets(config: dict) -> dict:
    """peft keeps target_modules as a set, listed in an order that varies between processes (string hashing):
    sort every set so that two identical trainings write byte-identical files."""
    return {key: sorted(value) if isinstance(value, (set, frozenset)) else value for key, value in config.items()}


def load(base_model, checkpoint_dir, params: dict):
    from ..models import load_pipeline

    pipe = load_pipeline(base_model)
    pipe.load_lora_weights(str(checkpoint_dir), weight_name=ARTIFACT)
    return pipe
