"""Stable Diffusion 1.x (StableDiffusionPipeline): a UNet conditioned on the CLIP text encoder's last hidden states,
trained to predict the noise (or v) on the DDPM schedule of the model's own scheduler config.

Every method type applies; the world model (builtin:world) and builtin:tiny are of this family.
"""

from __future__ import annotations

from conceptbench.diffusion.families.base import Family, Noised, Objective

# Pipeline components that SD-1.x checkpoints may carry but this benchmark never uses.
NO_EXTRAS = dict(safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False)


def token_ids(tokenizer, prompts: list[str], device):
    """Padded to the tokenizer's length and cut there, as the SD pipelines tokenize."""
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids.to(device)


class NoisePrediction(Objective):
    """DDPM: x_t = sqrt(a_t) x0 + sqrt(1 - a_t) e with t uniform over the training timesteps; the target is e, or v
    for a v-prediction model. `time_ids` is SDXL's size conditioning (None on SD-1.x)."""

    def __init__(self, pipe, time_ids=None):
        from diffusers import DDPMScheduler

        self.scaling_factor = pipe.vae.config.scaling_factor
        self.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.time_ids = time_ids

    def model_input(self, latents):
        return latents * self.scaling_factor

    def noise(self, x0, generator, device) -> Noised:
        import torch

        noise = torch.randn(x0.shape, generator=generator).to(device)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x0),),
                                  generator=generator).to(device)
        noisy = self.scheduler.add_noise(x0, noise, timesteps)
        if self.scheduler.config.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(x0, noise, timesteps)
        else:
            target = noise
        return Noised(noisy, timesteps, target)

    def predict(self, denoiser, noised: Noised, conditioning: dict):
        # SDXL's added conditioning: the pooled text embedding and the size numbers.
        added = None if self.time_ids is None else {
            "text_embeds": conditioning["pooled"].to(denoiser.dtype),
            "time_ids": self.time_ids.expand(len(noised.noisy), -1).to(denoiser.dtype)}
        return denoiser(noised.noisy, noised.timesteps, conditioning["hidden"].to(denoiser.dtype),
                        added_cond_kwargs=added).sample

    def loss(self, pred, target, weighting):
        import torch.nn.functional as F

        return F.mse_loss(pred, target)


class SD1(Family):
    # key: the name pipeline_family has always given SD-1.x models.
    key, title, pipeline_class = "sd", "SD-1.x", "StableDiffusionPipeline"
    load_options = NO_EXTRAS
    methods = {"textual_inversion": None, "dreambooth": None, "lora": None, "pivotal_tuning": None,
               "custom_diffusion": None}

    def text_encoders(self, pipe) -> list[tuple]:
        return [("text_encoder", pipe.tokenizer, pipe.text_encoder)]

    def encode_prompts(self, pipe, prompts: list[str], device) -> dict:
        """The text encoder's last hidden states, as StableDiffusionPipeline.encode_prompt gives them."""
        return {"hidden": pipe.text_encoder(token_ids(pipe.tokenizer, prompts, device))[0]}

    def objective(self, pipe, settings: dict, height: int, width: int, device) -> Objective:
        return NoisePrediction(pipe)


FAMILY = SD1()
