"""What every model family answers, and what the shared training loop asks of it.

A `Family` (one per module of this package) is the whole difference between SD-1.x, SDXL, FLUX.1, FLUX.2 [klein]
and Qwen-Image as far as
conceptbench is concerned; the training loop, the methods and the start-up checks ask it instead of testing the
pipeline's class. An `Objective` is one training run's view of the family's loss: how VAE latents become the
model's input, how a noisy input and its target are drawn, how the denoiser is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The shared loss options of a method entry (TrainingConfig's fields), each with the value that leaves a loss as it
# is: a family whose objective does not take one refuses any other value at start-up.
LOSS_OPTIONS = {"snr_gamma": None, "noise_offset": 0.0}


@dataclass
class Noised:
    """One step's noisy model input, its timesteps, the regression target and the per-sample loss weights
    (None: every sample weighs the same)."""

    noisy: Any
    timesteps: Any
    target: Any
    weighting: Any = None


class Objective:
    """One training's loss, set up by `Family.objective` (subclassed per kind of objective)."""

    # Whether training encodes each image to its VAE posterior's mode (FLUX.2's trainer) rather than a sample of it.
    posterior_mode: bool = False

    def model_input(self, latents):
        """A sample (or the mode) of the VAE posterior -> what the denoiser learns to make (normalised latents)."""
        raise NotImplementedError

    def noise(self, x0, generator, device) -> Noised:
        """Draw noise and timesteps from `generator` (the loop's one CPU generator: resumable) for a batch."""
        raise NotImplementedError

    def predict(self, denoiser, noised: Noised, conditioning: dict, dtype):
        """The denoiser's output for `noised.noisy`, in the shape of `noised.target`, its inputs cast to `dtype` (the
        denoiser's). The training loop reads that once and passes it: diffusers' `ModelMixin.dtype` walks every
        submodule, 1.8 ms a call on the world's UNet with LoRA, about 0.55 s of a 300-step LoRA training."""
        raise NotImplementedError

    def loss(self, pred, target, weighting):
        raise NotImplementedError


class Family:
    """A model family. Subclasses set the class attributes and override what differs."""

    key: str = ""  # short name (pipeline_family): "sd", "sdxl", "flux1"
    title: str = ""  # what people call it: "SD-1.x"
    pipeline_class: str = ""  # the diffusers pipeline (model_index.json's _class_name)
    denoiser_name: str = "unet"  # the pipeline component that denoises (and that LoRA adapts)
    # from_pretrained keyword arguments that drop components the benchmark never uses.
    load_options: dict = {}
    # Method type -> None where it applies, or why it does not (start-up refuses it with that reason).
    methods: dict[str, str | None] = {}
    # Settings this family adds to every method entry, with their defaults (method_params fills them in), and
    # their config schema. Empty for SD: its method entries keep the settings they always had.
    settings: dict = {}
    settings_schema: dict = {}
    # The keys of a Textual Inversion file's embeddings, one per text encoder in text_encoders' order (the layout
    # of diffusers' trainers for the family); None: one text encoder, its embedding under the token itself.
    embedding_keys: tuple[str, ...] | None = None
    # Whether its pipeline's load_lora_weights adapts a text encoder (LoRA's train_text_encoder is refused if not).
    text_encoder_lora: bool = True
    # The names of the LOSS_OPTIONS its objective takes.
    loss_options: tuple[str, ...] = ()
    # The samplers (diffusion/schedulers.py) that fit its objective, and the one a run uses where
    # generation.scheduler is left out.
    samplers: tuple[str, ...] = ()
    default_sampler: str = ""
    # The images' side must be a multiple of this: the VAE's downsampling (8x) times any patching of the latents.
    size_multiple: int = 8
    size_reason: str = "the VAE works on 8x smaller latents"
    # The fewest sampler steps its default scheduler takes, and why (1 everywhere but Qwen-Image).
    min_sampler_steps: int = 1
    min_steps_reason: str = ""

    def pipeline_type(self):
        import diffusers

        return getattr(diffusers, self.pipeline_class)

    def denoiser(self, pipe):
        return getattr(pipe, self.denoiser_name)

    def text_encoders(self, pipe) -> list[tuple]:
        """(component name, tokenizer, text encoder) of every text encoder of the pipeline."""
        raise NotImplementedError

    def lora_text_encoders(self, pipe) -> list[tuple]:
        """The text encoders the pipeline's `load_lora_weights` adapts (train_text_encoder trains these)."""
        return self.text_encoders(pipe) if self.text_encoder_lora else []

    def method_refusal(self, method_type: str) -> str | None:
        """Why `method_type` does not apply to this family, or None where it does."""
        if method_type not in self.methods:
            return f"{method_type} has not been checked on {self.title}"
        return self.methods[method_type]

    def loss_option_refusal(self, params: dict) -> str | None:
        """Why a method entry's loss options do not apply to this family (a value set that its objective does not
        take), or None."""
        unused = [f"{key}: {params[key]}" for key, neutral in LOSS_OPTIONS.items()
                  if key not in self.loss_options and params.get(key, neutral) != neutral]
        if not unused:
            return None
        return (f"{', '.join(unused)} is not an option of {self.title}'s objective (it takes "
                f"{', '.join(self.loss_options) or 'none of snr_gamma, noise_offset'}); remove it")

    def sampler_refusal(self, name: str) -> str | None:
        """Why the sampler `name` does not fit this family, or None where it does."""
        if name in self.samplers:
            return None
        return (f"{name} does not sample {self.title} models; use one of {', '.join(self.samplers)}, or leave "
                f"generation.scheduler out for {self.default_sampler}")

    def steps_refusal(self, steps: int) -> str | None:
        """Why `steps` sampler steps do not sample this family's models, or None where they do."""
        if steps >= self.min_sampler_steps:
            return None
        return (f"{steps} is too few steps for {self.title} models ({self.min_steps_reason}); use "
                f"{self.min_sampler_steps} or more")

    def text_encoder_refusal(self, params: dict) -> str | None:
        """Why a method entry's train_text_encoder does not apply to this family, or None."""
        if not params.get("train_text_encoder") or self.text_encoder_lora:
            return None
        return (f"train_text_encoder is refused on {self.title} models: its pipeline's load_lora_weights adapts the "
                f"{self.denoiser_name} only; remove it")

    def method_defaults(self, method_type: str) -> dict:
        """Family-specific defaults of a method entry's settings (beyond `settings`; e.g. LoRA's targets)."""
        return dict(self.settings)

    def vae_input(self, pixels):
        """A batch of images (B, 3, H, W) as the family's VAE encodes them."""
        return pixels

    def batch_conditioning(self, conditionings: list[dict], each: int) -> dict:
        """One training batch's conditioning: each of `conditionings` (encode_prompts of one prompt: the instance
        prompt, then the class prompt) `each` times, in that order."""
        import torch

        return {key: torch.cat([c[key].expand(each, *c[key].shape[1:]) for c in conditionings])
                for key in conditionings[0]}

    def sampling_options(self, guidance_scale: float, count: int) -> dict:
        """The pipeline call's guidance arguments for `count` prompts at generation.guidance_scale."""
        return {"guidance_scale": guidance_scale}

    def encode_prompts(self, pipe, prompts: list[str], device) -> dict:
        """Prompts -> the denoiser's text conditioning, each tensor with the prompts along its first dimension, equal
        to what the pipeline computes for them."""
        raise NotImplementedError

    def objective(self, pipe, config, height: int, width: int, device) -> Objective:
        """The loss of a training on images of height x width pixels on `device`; `config` is the loop's
        TrainingConfig (its `family_settings` and the loss options this family takes)."""
        raise NotImplementedError
