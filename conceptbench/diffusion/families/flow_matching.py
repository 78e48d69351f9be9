"""Rectified flow matching, the objective of FLUX.1 (and of FLUX.2 and Qwen-Image), as diffusers' example trainers
(examples/dreambooth/train_dreambooth_lora_flux.py) train it:

- u from `compute_density_for_timestep_sampling` (weighting_scheme none | logit_normal | mode | cosmap | sigma_sqrt);
  the timestep and sigma are the scheduler's at index u * num_train_timesteps, so a model whose scheduler shifts
  its sigmas statically trains at the shifted ones (FLUX.1-dev shifts dynamically, at sampling time, so it trains
  on the unshifted ones);
- x_t = (1 - sigma) x0 + sigma e, and the target is the velocity e - x0;
- the loss is the mean over samples of the mean squared error, weighted per sample by
  `compute_loss_weighting_for_sd3` (1 except for sigma_sqrt and cosmap).

The scheduler is built afresh from the pipeline's config: after inference `pipe.scheduler` holds the inference
timesteps, not the training ones.
"""

from __future__ import annotations

from conceptbench.diffusion.families.base import Family, Noised, Objective

WEIGHTING_SCHEMES = ("none", "logit_normal", "mode", "cosmap", "sigma_sqrt")
# The settings of every method entry on a flow-matching family, with diffusers' trainers' defaults.
SETTINGS = {"weighting_scheme": "none", "logit_mean": 0.0, "logit_std": 1.0, "mode_scale": 1.29}
SETTINGS_SCHEMA = {
    "weighting_scheme": {"enum": list(WEIGHTING_SCHEMES),
                         "description": "how flow-matching timesteps are drawn or weighted (diffusers' trainers)"},
    "logit_mean": {"type": "number", "description": "weighting_scheme logit_normal: the normal's mean"},
    "logit_std": {"$ref": "#/$defs/positive_number"},
    "mode_scale": {"type": "number", "description": "weighting_scheme mode: its scale"},
}


# Custom Diffusion's reason on every joint-attention transformer.
NO_CROSS_ATTENTION = ("it trains the keys and values of a UNet's cross-attention, which a joint-attention "
                      "transformer does not have (text and image tokens share one attention)")


class TransformerFamily(Family):
    """What FLUX.1, FLUX.2 [klein] and Qwen-Image share: a joint-attention transformer trained by flow matching
    (its settings), sampled by the model's own flow-matching Euler scheduler, on images whose sides are multiples of
    16 (8x VAE, 2x2 packing); the method types that add a LoRA (LoRA, pivotal tuning) default to `lora_targets`,
    the targets of diffusers' trainer for the family."""

    denoiser_name = "transformer"
    settings, settings_schema = dict(SETTINGS), dict(SETTINGS_SCHEMA)
    samplers, default_sampler = ("flow_match_euler",), "flow_match_euler"
    size_multiple, size_reason = 16, "the VAE's 8x smaller latents are packed 2x2 into tokens"
    lora_targets: tuple[str, ...] = ()

    def method_defaults(self, method_type: str) -> dict:
        adds_lora = method_type in ("lora", "pivotal_tuning")
        return {**self.settings, **({"target_modules": list(self.lora_targets)} if adds_lora else {})}


class FlowMatching(Objective):
    """The loss of one training; `settings` holds SETTINGS' keys. A family subclasses it for its latents (packing,
    position ids) and its transformer's call."""

    def __init__(self, pipe, settings: dict):
        from diffusers import FlowMatchEulerDiscreteScheduler

        self.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
        self.settings = {key: settings[key] for key in SETTINGS}

    def sample_timesteps(self, batch: int, generator):
        """(timesteps, sigmas) of `batch` samples, drawn as diffusers' trainers draw them."""
        from diffusers.training_utils import compute_density_for_timestep_sampling

        s = self.settings
        u = compute_density_for_timestep_sampling(s["weighting_scheme"], batch, logit_mean=s["logit_mean"],
                                                  logit_std=s["logit_std"], mode_scale=s["mode_scale"],
                                                  generator=generator)
        count = self.scheduler.config.num_train_timesteps
        # u reaches 1 only at the edge of a density (mode at u = 0); diffusers' trainers would index past the end.
        indices = (u * count).long().clamp(0, count - 1)
        return self.scheduler.timesteps[indices], self.scheduler.sigmas[indices]

    def target(self, x0, noise):
        return noise - x0

    def noise(self, x0, generator, device) -> Noised:
        import torch
        from diffusers.training_utils import compute_loss_weighting_for_sd3

        noise = torch.randn(x0.shape, generator=generator).to(device)
        timesteps, sigmas = self.sample_timesteps(len(x0), generator)
        timesteps = timesteps.to(device)
        sigmas = sigmas.to(device, x0.dtype).view(-1, *[1] * (x0.ndim - 1))
        noisy = (1.0 - sigmas) * x0 + sigmas * noise
        weighting = compute_loss_weighting_for_sd3(self.settings["weighting_scheme"], sigmas)
        return Noised(noisy, timesteps, self.target(x0, noise), weighting)

    def loss(self, pred, target, weighting):
        import torch

        per_sample = torch.mean((weighting.float() * (pred - target) ** 2).reshape(len(target), -1), 1)
        return per_sample.mean()
