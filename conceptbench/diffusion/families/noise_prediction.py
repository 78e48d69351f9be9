"""Noise prediction on the DDPM schedule, the objective of SD-1.x and SDXL, with its loss options: offset noise and
Min-SNR weighting.

- The objective: x_t = sqrt(a_t) x0 + sqrt(1 - a_t) e with t uniform over the model's training timesteps; the target
  is e, or v for a v-prediction model; the loss is the mean squared error.
- `noise_offset` (Guttenberg 2023, "Diffusion with offset noise"; the `--noise_offset` of diffusers' trainers): the
  noise gets `offset * randn(batch, channels, 1, 1)` added, one constant per image and channel, so that the model
  learns to shift an image's mean brightness as well.
- `snr_gamma` (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy"): each image's
  loss is weighted by min(SNR(t), gamma) / SNR(t) for a noise (epsilon) prediction and min(SNR(t), gamma) /
  (SNR(t) + 1) for a velocity prediction, SNR(t) = alpha_bar_t / (1 - alpha_bar_t); the paper's weight on the
  x0 loss, rewritten for the target the model predicts (its section 4.2), as diffusers' trainers do it.

At their defaults (offset 0, no gamma) neither draws a random number nor changes an operation: the loss and the
generator's stream are those of a run without them, bit for bit.
"""

from __future__ import annotations

# The samplers of a model trained to predict the noise (or v) on a DDPM schedule; DDIM is the benchmark's default.
SAMPLERS = ("ddim", "pndm", "dpmsolver", "euler", "euler_ancestral")

import torch
import torch.nn.functional as F

from conceptbench.diffusion.families.base import Noised, Objective


def training_noise(shape: tuple[int, ...], generator: torch.Generator, offset: float = 0.0) -> torch.Tensor:
    """Gaussian noise of `shape` (batch, channels, height, width) from `generator`, plus `offset` times one
    Gaussian number per image and channel, drawn after it (nothing more is drawn when offset is 0)."""
    noise = torch.randn(shape, generator=generator)
    if offset:
        noise = noise + offset * torch.randn((shape[0], shape[1], 1, 1), generator=generator)
    return noise


def signal_to_noise(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """SNR(t) = alpha_bar_t / (1 - alpha_bar_t) of each timestep, in float32."""
    alpha_bar = alphas_cumprod.to(timesteps.device)[timesteps].float()
    return alpha_bar / (1.0 - alpha_bar)


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float,
                    prediction_type: str) -> torch.Tensor:
    """Each image's Min-SNR weight for its timestep (module docstring)."""
    snr = signal_to_noise(alphas_cumprod, timesteps)
    # A velocity target already carries a factor SNR + 1 relative to the x0 loss; epsilon carries SNR.
    divisor = snr + 1 if prediction_type == "v_prediction" else snr
    return torch.clamp(snr, max=gamma) / divisor


def denoising_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error; with `weights` (one per image), each image's mean squared error times its weight, averaged
    over the images."""
    if weights is None:
        return F.mse_loss(pred, target)
    per_image = F.mse_loss(pred, target, reduction="none").mean(dim=tuple(range(1, pred.dim())))
    return (per_image * weights).mean()


class NoisePrediction(Objective):
    """One training's DDPM loss on `pipe`'s schedule (module docstring). `time_ids` is SDXL's size conditioning
    (None on SD-1.x); `snr_gamma` and `noise_offset` are the loss options."""

    def __init__(self, pipe, time_ids=None, snr_gamma: float | None = None, noise_offset: float = 0.0):
        from diffusers import DDPMScheduler

        self.scaling_factor = pipe.vae.config.scaling_factor
        self.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.time_ids = time_ids
        self.snr_gamma, self.noise_offset = snr_gamma, noise_offset

    def model_input(self, latents):
        return latents * self.scaling_factor

    def noise(self, x0, generator, device) -> Noised:
        noise = training_noise(tuple(x0.shape), generator, self.noise_offset).to(device)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x0),),
                                  generator=generator).to(device)
        noisy = self.scheduler.add_noise(x0, noise, timesteps)
        prediction = self.scheduler.config.prediction_type
        target = self.scheduler.get_velocity(x0, noise, timesteps) if prediction == "v_prediction" else noise
        # Min-SNR weights per image, on the class images' half too (diffusers' train_dreambooth.py weights the
        # instance half only); none at the default, which keeps the plain mean squared error.
        weights = None if self.snr_gamma is None else min_snr_weights(self.scheduler.alphas_cumprod, timesteps,
                                                                      self.snr_gamma, prediction)
        return Noised(noisy, timesteps, target, weights)

    def predict(self, denoiser, noised: Noised, conditioning: dict, dtype):
        # SDXL's added conditioning: the pooled text embedding and the size numbers.
        added = None if self.time_ids is None else {
            "text_embeds": conditioning["pooled"].to(dtype),
            "time_ids": self.time_ids.expand(len(noised.noisy), -1).to(dtype)}
        return denoiser(noised.noisy, noised.timesteps, conditioning["hidden"].to(dtype),
                        added_cond_kwargs=added).sample

    def loss(self, pred, target, weighting):
        return denoising_loss(pred, target, weighting)
