"""LoRA (Hu et al. 2021) on the denoiser's attention projections (the UNet's; FLUX.1's transformer), via peft, with
optional class-prior preservation (DreamBooth-LoRA).

Options: `train_text_encoder` adds LoRA to the text encoder's attention too (as diffusers' train_dreambooth_lora.py
--train_text_encoder); `use_dora` makes the adapters DoRA (Liu et al. 2024: a learned magnitude per output beside
the low-rank direction); `target_modules` is a list of module names or a preset (TARGET_PRESETS). Every variant is
saved as one pytorch_lora_weights.safetensors that `pipe.load_lora_weights` loads, by the pipeline class's own
`save_lora_weights` with each adapter's metadata (so an alpha other than the rank reloads as trained). A model
family may default to other targets (FLUX.1: diffusers' FLUX trainer's; conceptbench/diffusion/families/).
"""

from __future__ import annotations

from pathlib import Path

from conceptbench.inputs.prompts import training_prompt

# LoRA names the concept as DreamBooth does ("sks dog") and may use the same class prior.
from conceptbench.methods.dreambooth import concept_phrase, uses_prior  # noqa: F401  (part of this method's interface)

ARTIFACT = "pytorch_lora_weights.safetensors"
# UNet module names per preset: the attention projections (diffusers' LoRA examples), with the feed-forward layers.
TARGET_PRESETS = {
    "attention": ["to_k", "to_q", "to_v", "to_out.0"],
    "attention_and_feedforward": ["to_k", "to_q", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2"],
}
TEXT_ENCODER_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]  # CLIP text encoder attention
DEFAULTS = {
    "identifier": "sks",
    "rank": 4,
    "alpha": 4,
    "target_modules": TARGET_PRESETS["attention"],
    "train_text_encoder": False,
    "use_dora": False,
    "prior_preservation": False,
    "prior_loss_weight": 1.0,
}


def target_modules(params: dict) -> list[str]:
    targets = params["target_modules"]
    if isinstance(targets, str):
        if targets not in TARGET_PRESETS:
            raise ValueError(f"target_modules {targets!r} is not a preset; use one of {sorted(TARGET_PRESETS)} "
                             "or a list of module names")
        return list(TARGET_PRESETS[targets])
    return list(targets)


def lora_config(params: dict, targets: list[str]):
    from peft import LoraConfig

    return LoraConfig(r=params["rank"], lora_alpha=params["alpha"], init_lora_weights="gaussian",
                      target_modules=targets, use_dora=bool(params["use_dora"]))


def add_denoiser_adapter(pipe, params: dict) -> dict:
    """Freeze the pipeline, add an adapter to its denoiser (UNet or transformer); returns its trainable parameters
    by name."""
    import torch

    from conceptbench.diffusion.families import family_of

    family = family_of(pipe)
    denoiser = family.denoiser(pipe)
    pipe.vae.requires_grad_(False)
    for _, _, text_encoder in family.text_encoders(pipe):
        text_encoder.requires_grad_(False)
    denoiser.requires_grad_(False)
    # The adapter's random init must not depend on what ran before in this process.
    torch.manual_seed(params["seed"])
    denoiser.add_adapter(lora_config(params, target_modules(params)))
    return {n: p for n, p in denoiser.named_parameters() if p.requires_grad}


def add_text_encoder_adapter(text_encoder, config) -> None:
    """peft's own injection, as diffusers does it for the UNet (transformers' add_adapter wants a newer peft)."""
    from peft import inject_adapter_in_model

    inject_adapter_in_model(config, text_encoder, adapter_name="default")
    text_encoder.peft_config = {"default": config}  # read by get_peft_model_state_dict when saving


def prepare(pipe, concept_name: str, class_noun: str, params: dict):
    from conceptbench.diffusion.families import family_of
    from conceptbench.methods.training import TrainingSetup

    trainable = add_denoiser_adapter(pipe, params)
    if params["train_text_encoder"]:  # every text encoder the pipeline's LoRA loader adapts (SDXL: two; FLUX: CLIP)
        for name, _, encoder in family_of(pipe).lora_text_encoders(pipe):
            add_text_encoder_adapter(encoder, lora_config(params, TEXT_ENCODER_TARGETS))
            trainable.update({f"{name}.{n}": p for n, p in encoder.named_parameters() if p.requires_grad})
    phrase = concept_phrase(concept_name, class_noun, params)
    return TrainingSetup(
        trainable=trainable,
        instance_prompt=training_prompt(phrase),
        class_prompt=training_prompt(class_noun) if uses_prior(params) else None,
        train_text_encoder=bool(params["train_text_encoder"]),
    )


def save_lora(pipe, out_dir: Path, text_encoder: bool) -> None:
    """The denoiser's (and the text encoders') adapters as diffusers' LoRA file, saved by the pipeline's own class."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    from conceptbench.diffusion.families import family_of
    from conceptbench.files import sort_safetensors_metadata

    family = family_of(pipe)
    denoiser, name = family.denoiser(pipe), family.denoiser_name  # unet_lora_layers, transformer_lora_layers
    state = get_peft_model_state_dict(denoiser)
    # A UNet's keys in diffusers' naming, as its LoRA trainers save them; a transformer's in peft's, as diffusers'
    # FLUX trainers save them (Flux2KleinPipeline's loader skips the converted keys of a double-stream block).
    layers = {f"{name}_lora_layers": convert_state_dict_to_diffusers(state) if name == "unet" else state,
              # Stored so that load_lora_weights applies alpha/rank scaling as trained.
              f"{name}_lora_adapter_metadata": sorted_sets(denoiser.peft_config["default"].to_dict())}
    if text_encoder:
        for name, _, encoder in family.lora_text_encoders(pipe):
            layers[f"{name}_lora_layers"] = convert_state_dict_to_diffusers(get_peft_model_state_dict(encoder))
            layers[f"{name}_lora_adapter_metadata"] = sorted_sets(encoder.peft_config["default"].to_dict())
    type(pipe).save_lora_weights(save_directory=str(out_dir), weight_name=ARTIFACT, safe_serialization=True, **layers)
    sort_safetensors_metadata(Path(out_dir) / ARTIFACT)


def save(pipe, setup, out_dir: Path, params: dict) -> None:
    save_lora(pipe, out_dir, text_encoder=bool(params["train_text_encoder"]))


def sorted_sets(config: dict) -> dict:
    """peft keeps target_modules as a set, listed in an order that varies between processes (string hashing):
    sort every set so that two identical trainings write byte-identical files."""
    return {key: sorted(value) if isinstance(value, (set, frozenset)) else value for key, value in config.items()}


def load(base_model, checkpoint_dir, params: dict):
    from conceptbench.diffusion.pipelines import load_pipeline

    pipe = load_pipeline(base_model)
    pipe.load_lora_weights(str(checkpoint_dir), weight_name=ARTIFACT)
    return pipe
