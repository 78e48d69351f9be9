"""The loss options (conceptbench/diffusion/families/noise_prediction.py) against their formulas, computed here from first principles: offset
noise adds offset * randn(b, c, 1, 1) after the noise; Min-SNR weights each image by min(SNR, gamma) / SNR
(epsilon) or min(SNR, gamma) / (SNR + 1) (v-prediction), SNR = alpha_bar / (1 - alpha_bar) of SD's schedule. At
their defaults neither changes a bit of the loss or the random stream."""

import math

import pytest
import torch

from conceptbench.diffusion.families.noise_prediction import denoising_loss, min_snr_weights, training_noise


def _sd_alphas_cumprod(steps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> torch.Tensor:
    """Stable Diffusion's "scaled_linear" schedule, written out: betas linear in sqrt, alpha_bar their running
    product of (1 - beta), in float64."""
    roots = [math.sqrt(beta_start) + (math.sqrt(beta_end) - math.sqrt(beta_start)) * i / (steps - 1)
             for i in range(steps)]
    alpha_bar, out = 1.0, []
    for root in roots:
        alpha_bar *= 1.0 - root * root
        out.append(alpha_bar)
    return torch.tensor(out, dtype=torch.float64)


def test_noise_offset_adds_one_gaussian_per_image_and_channel_drawn_after_the_noise():
    shape, offset = (3, 4, 8, 8), 0.1
    got = training_noise(shape, torch.Generator().manual_seed(7), offset)
    reference = torch.Generator().manual_seed(7)
    base = torch.randn(shape, generator=reference)
    per_channel = torch.randn((3, 4, 1, 1), generator=reference)
    torch.testing.assert_close(got, base + offset * per_channel, rtol=0, atol=0)
    # Constant over each image's pixels, per channel: the offset shifts the mean, not the pattern.
    shift = got - base
    torch.testing.assert_close(shift, (offset * per_channel).expand_as(shift), rtol=0, atol=1e-6)  # rounding of + and -
    assert shift[:, :, 0, 0].std() > 0.01


def test_no_noise_offset_draws_nothing_more_and_changes_nothing():
    generator, reference = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(training_noise((2, 4, 8, 8), generator, 0.0), torch.randn((2, 4, 8, 8), generator=reference))
    assert torch.equal(generator.get_state(), reference.get_state())  # the rest of the run's stream is the same


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_min_snr_weights_follow_the_formula(prediction_type):
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              prediction_type=prediction_type)
    alpha_bar = _sd_alphas_cumprod()
    timesteps = torch.tensor([0, 10, 100, 400, 999])
    gamma = 5.0
    got = min_snr_weights(scheduler.alphas_cumprod, timesteps, gamma, prediction_type)
    snr = alpha_bar[timesteps] / (1 - alpha_bar[timesteps])
    expected = torch.minimum(snr, torch.full_like(snr, gamma)) / (snr + 1 if prediction_type == "v_prediction" else snr)
    # float32 as diffusers computes it: 1 - alpha_bar near t = 0 (8.5e-4) keeps ~4 significant digits.
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=0)
    # Low-noise steps (SNR above gamma) are weighted down; where SNR < gamma an epsilon loss keeps weight 1.
    assert snr[0] > gamma and got[0] < 0.01
    if prediction_type == "epsilon":
        assert snr[-1] < gamma and got[-1] == 1.0


def test_weighted_loss_is_the_weighted_mean_of_each_images_squared_error():
    generator = torch.Generator().manual_seed(0)
    pred, target = torch.randn((3, 4, 5, 5), generator=generator), torch.randn((3, 4, 5, 5), generator=generator)
    weights = torch.tensor([0.2, 1.0, 0.5])
    per_image = [((pred[i] - target[i]) ** 2).sum() / pred[i].numel() for i in range(3)]
    expected = sum(w * e for w, e in zip(weights, per_image)) / 3
    torch.testing.assert_close(denoising_loss(pred, target, weights), expected)
    # Unit weights give the plain mean squared error; no weights are it, exactly (the default's loss).
    torch.testing.assert_close(denoising_loss(pred, target, torch.ones(3)), ((pred - target) ** 2).mean())
    assert torch.equal(denoising_loss(pred, target), torch.nn.functional.mse_loss(pred, target))
