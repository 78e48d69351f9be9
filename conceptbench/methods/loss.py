"""The loss options of the shared training loop: offset noise and Min-SNR weighting.

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

import torch
import torch.nn.functional as F


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
