"""Stable Diffusion 1.x (StableDiffusionPipeline): a UNet conditioned on the CLIP text encoder's last hidden states,
trained to predict the noise (or v) on the DDPM schedule of the model's own scheduler config
(noise_prediction.py).

Every method type applies; the world model (builtin:world) and builtin:tiny are of this family.
"""

from __future__ import annotations

from conceptbench.diffusion.families.base import Family, Objective
from conceptbench.diffusion.families.noise_prediction import SAMPLERS, NoisePrediction

# Pipeline components that SD-1.x checkpoints may carry but this benchmark never uses.
NO_EXTRAS = dict(safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False)


def token_ids(tokenizer, prompts: list[str], device):
    """Padded to the tokenizer's length and cut there, as the SD pipelines tokenize."""
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids.to(device)


class SD1(Family):
    # key: the name pipeline_family has always given SD-1.x models.
    key, title, pipeline_class = "sd", "SD-1.x", "StableDiffusionPipeline"
    load_options = NO_EXTRAS
    methods = {"textual_inversion": None, "dreambooth": None, "lora": None, "pivotal_tuning": None,
               "custom_diffusion": None}
    loss_options = ("snr_gamma", "noise_offset")
    samplers, default_sampler = SAMPLERS, "ddim"

    def text_encoders(self, pipe) -> list[tuple]:
        return [("text_encoder", pipe.tokenizer, pipe.text_encoder)]

    def encode_prompts(self, pipe, prompts: list[str], device) -> dict:
        """The text encoder's last hidden states, as StableDiffusionPipeline.encode_prompt gives them."""
        return {"hidden": pipe.text_encoder(token_ids(pipe.tokenizer, prompts, device))[0]}

    def objective(self, pipe, config, height: int, width: int, device) -> Objective:
        return NoisePrediction(pipe, snr_gamma=config.snr_gamma, noise_offset=config.noise_offset)


FAMILY = SD1()
