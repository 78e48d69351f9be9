"""`builtin:world`: an SD-1.x pipeline (AutoencoderKL, UNet2DConditionModel, CLIPTextModel) pretrained on the world.

First the autoencoder learns to compress 32 px world images 2x (16 x 16 x 4 latents); then the UNet and the text
encoder learn, together, to denoise those latents given the captions (epsilon prediction on Stable Diffusion's
noise schedule, 10% of captions dropped so that classifier-free guidance works, min-SNR loss weights, EMA).
The result is saved with `save_pretrained` and loads like any Stable Diffusion 1.x folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from conceptbench.world.dataset import WorldData
from conceptbench.world_models.fitting import fit, images_to_unit

Log = Callable[[str], None]
SNR_GAMMA = 5.0  # min-SNR weighting (Hang et al. 2023): faster convergence than plain epsilon MSE
CAPTION_DROPOUT = 0.1


def build_vae(size: int, seed: int):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, layers_per_block=1, sample_size=size,
        norm_num_groups=32, mid_block_add_attention=False,
    )


def train_vae(data: WorldData, *, steps: int, batch_size: int, lr: float, seed: int, log: Log, kl_weight=1e-6):
    vae = build_vae(data.images.shape[1], seed)
    pixels = images_to_unit(data.images) * 2 - 1

    def loss_fn(step, generator):
        x = pixels[torch.randint(len(pixels), (batch_size,), generator=generator)]
        posterior = vae.encode(x).latent_dist
        error = vae.decode(posterior.sample(generator)).sample - x
        return error.abs().mean() + error.pow(2).mean() + kl_weight * posterior.kl().mean()

    vae.train()
    stats = fit(loss_fn, list(vae.parameters()), steps=steps, lr=lr, seed=seed, log=log, what="vae", warmup=50,
                weight_decay=0.0)
    vae.eval().requires_grad_(False)
    mean, _ = latent_moments(vae, pixels)
    # Latents scaled to unit variance, as SD-1.x does with its 0.18215.
    vae.register_to_config(scaling_factor=round(1.0 / float(mean.std()), 5))
    return vae, stats


@torch.no_grad()
def latent_moments(vae, pixels: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    means, stds = [], []
    for start in range(0, len(pixels), batch):
        posterior = vae.encode(pixels[start:start + batch]).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


def build_text_encoder(tokenizer, seed: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, projection_dim=64,
    ))


def build_unet(latent_size: int, seed: int):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    # Cross-attention at 8x8 and 4x4 (and the middle) is where the prompt steers; 16x16 is convolutions only.
    return UNet2DConditionModel(
        sample_size=latent_size, block_out_channels=(32, 64, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64, attention_head_dim=8, norm_num_groups=32,
    )


def train_diffusion(data: WorldData, vae, tokenizer, *, steps: int, batch_size: int, lr: float, seed: int,
                    log: Log):
    from diffusers import DDPMScheduler

    from conceptbench.diffusion.pipelines import sd1_scheduler

    pixels = images_to_unit(data.images) * 2 - 1
    mean, std = latent_moments(vae, pixels)
    scale = vae.config.scaling_factor
    unet = build_unet(mean.shape[-1], seed)
    text_encoder = build_text_encoder(tokenizer, seed + 1)

    def tokenize(texts):
        return tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                         return_tensors="pt").input_ids

    caption_ids, empty_ids = tokenize(data.captions), tokenize([""])
    noise_scheduler = DDPMScheduler.from_config(sd1_scheduler().config)
    alphas = noise_scheduler.alphas_cumprod
    snr = alphas / (1 - alphas)

    def loss_fn(step, generator):
        idx = torch.randint(len(mean), (batch_size,), generator=generator)
        latents = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=generator)) * scale
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(0, len(alphas), (batch_size,), generator=generator)
        ids = caption_ids[idx].clone()
        ids[torch.rand(batch_size, generator=generator) < CAPTION_DROPOUT] = empty_ids[0]
        pred = unet(noise_scheduler.add_noise(latents, noise, timesteps), timesteps, text_encoder(ids)[0]).sample
        weight = snr[timesteps].clamp(max=SNR_GAMMA) / snr[timesteps]
        return ((pred - noise).pow(2).mean(dim=(1, 2, 3)) * weight).mean()

    unet.train()
    text_encoder.train()
    stats = fit(loss_fn, [*unet.parameters(), *text_encoder.parameters()], steps=steps, lr=lr, seed=seed, log=log,
                what="diffusion", warmup=200, ema_decay=0.999)
    return unet.eval(), text_encoder.eval(), stats


def save_pipeline(out_dir: Path, vae, text_encoder, tokenizer, unet) -> Path:
    from diffusers import StableDiffusionPipeline

    from conceptbench.diffusion.pipelines import NO_EXTRAS, sd1_scheduler

    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=sd1_scheduler(), **NO_EXTRAS)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return Path(out_dir)
