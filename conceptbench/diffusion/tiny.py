"""The tiny random base models the workflow builds for plumbing tests: `builtin:tiny` (SD-1.x), `builtin:tiny-xl`
(SDXL), `builtin:tiny-flux` (FLUX.1), `builtin:tiny-flux2-klein` (FLUX.2 [klein]) and `builtin:tiny-qwen-image`
(Qwen-Image), from small configs and a fixed seed (CPU, seconds), saved with `save_pretrained`."""

from __future__ import annotations

from pathlib import Path

import torch

from conceptbench.diffusion.pipelines import NO_EXTRAS, sd1_scheduler
from conceptbench.diffusion.sources import (
    BUILTIN_TINY,
    BUILTIN_TINY_FLUX,
    BUILTIN_TINY_FLUX2_KLEIN,
    BUILTIN_TINY_QWEN_IMAGE,
    BUILTIN_TINY_XL,
)
from conceptbench.diffusion.tokenizers import (
    QWEN_VISION_TOKENS,
    write_tiny_qwen_tokenizer,
    write_tiny_t5_tokenizer,
    write_tiny_tokenizer,
)


def build_tiny_pipeline(out_dir: str | Path, seed: int = 0, resolution: int = 32) -> Path:
    """Build the tiny SD-1.x pipeline with random weights from `seed` and save it with `save_pretrained`.

    The UNet keeps cross-attention blocks (so LoRA has attention projections to adapt) and the VAE downsamples by 2,
    so 32 px images train at ~0.1 s/step on a laptop CPU. Same seed, same weights, bit for bit.
    """
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out_dir = Path(out_dir)
    tokenizer_dir = out_dir / "tokenizer"
    write_tiny_tokenizer(tokenizer_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, model_max_length=77)

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=resolution // 2,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=resolution,
        norm_num_groups=32,
    )
    torch.manual_seed(seed + 2)
    vocab_size = len(tokenizer)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, projection_dim=32,
    ))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=sd1_scheduler(), **NO_EXTRAS)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def build_tiny_xl_pipeline(out_dir: str | Path, seed: int = 0, resolution: int = 32) -> Path:
    """Build a tiny SDXL pipeline with random weights from `seed` and save it with `save_pretrained`.

    SDXL's shape in miniature: two text encoders whose penultimate hidden states are concatenated for
    cross-attention, the second's pooled projection plus the six size numbers (original size, crop corner, target
    size) as added conditioning, linear attention projections.
    """
    from diffusers import AutoencoderKL, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    out_dir = Path(out_dir)
    write_tiny_tokenizer(out_dir / "tokenizer")
    write_tiny_tokenizer(out_dir / "tokenizer_2")
    tokenizer = CLIPTokenizer.from_pretrained(out_dir / "tokenizer", model_max_length=77)
    tokenizer_2 = CLIPTokenizer.from_pretrained(out_dir / "tokenizer_2", model_max_length=77)
    hidden, time_dim = 32, 8

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=resolution // 2,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=hidden + 6 * time_dim,  # pooled text + 6 size numbers
        cross_attention_dim=2 * hidden,  # both encoders' hidden states side by side
        norm_num_groups=32,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=resolution,
        norm_num_groups=32,
    )
    text_config = dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                       projection_dim=hidden)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config))
    torch.manual_seed(seed + 3)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_config))
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet,
                                     scheduler=sd1_scheduler())
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


# FLUX.1-dev's VAE factors (its vae/config.json): training normalises latents as (z - shift) * scale, the pipeline
# undoes it before decoding. The tiny VAE keeps them, so a training that forgets them draws wrong images.
FLUX_VAE_SCALING, FLUX_VAE_SHIFT = 0.3611, 0.1159


def _like_a_trained_vae(vae, gain: float = 8.0, log_variance: float = -14.0) -> None:
    """Give a random VAE the two properties of a trained one that training relies on: a narrow posterior (FLUX.1's
    is nearly deterministic; a random one's is as wide as its latents, so its samples would be mostly noise) and
    latents that its (z - shift_factor) * scaling_factor brings to about zero mean and unit variance (a random
    encoder's come out near 0 +- 0.33 on photos, so `gain` 8 and the shift as offset: ~ -0.1 +- 0.96 after
    normalising, on the demo photos). The encoder's last convolution gives the posterior's means, then its
    log-variances."""
    channels, conv = vae.config.latent_channels, vae.encoder.conv_out
    _narrow_posterior(conv, channels, gain, conv.bias[:channels] * gain + vae.config.shift_factor, log_variance)


def _narrow_posterior(conv, channels: int, gain: float, mean_bias, log_variance: float) -> None:
    """Scale the mean half of the convolution that makes a VAE posterior (its first `channels` outputs) by `gain`
    with `mean_bias` as its bias, and make the log-variance half the constant `log_variance` (-14: std ~ 0.001)."""
    with torch.no_grad():
        mean_bias = torch.as_tensor(mean_bias, dtype=conv.bias.dtype).clone()
        conv.weight[:channels] *= gain
        conv.bias[:channels] = mean_bias
        conv.weight[channels:] = 0.0
        conv.bias[channels:] = log_variance


def build_tiny_flux_pipeline(out_dir: str | Path, seed: int = 0, resolution: int = 32) -> Path:
    """Build a tiny FLUX.1 pipeline with random weights from `seed` and save it with `save_pretrained`.

    FLUX.1's shape in miniature: CLIP's pooled embedding and T5's hidden states condition a transformer of one
    double-stream and one single-stream block (2 heads of 16, rotary axes 4+6+6) with FLUX.1-dev's guidance
    embedding; the VAE's 4 latent channels are packed 2x2 into the transformer's 16 input channels (the real model:
    16 channels into 64), and the VAE downsamples by 2, so 32 px images are 8x8 = 64 image tokens. The scheduler is
    FLUX.1-dev's (shift 3 with resolution-dependent dynamic shifting).
    """
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast

    out_dir = Path(out_dir)
    write_tiny_tokenizer(out_dir / "tokenizer")
    write_tiny_t5_tokenizer(out_dir / "tokenizer_2")
    tokenizer = CLIPTokenizer.from_pretrained(out_dir / "tokenizer", model_max_length=77)
    tokenizer_2 = T5TokenizerFast.from_pretrained(out_dir / "tokenizer_2")
    hidden, latent_channels = 32, 4

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4 * latent_channels, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=hidden, pooled_projection_dim=hidden, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),  # (text/image index, row, column): must add up to the head dimension
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=latent_channels,
        sample_size=resolution,
        norm_num_groups=4,
        scaling_factor=FLUX_VAE_SCALING,
        shift_factor=FLUX_VAE_SHIFT,
        use_quant_conv=False, use_post_quant_conv=False,  # as FLUX.1's VAE
    )
    _like_a_trained_vae(vae)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, projection_dim=hidden,
    ))
    torch.manual_seed(seed + 3)
    text_encoder_2 = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer_2), d_model=hidden, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        pad_token_id=tokenizer_2.pad_token_id, eos_token_id=tokenizer_2.eos_token_id, decoder_start_token_id=0,
    ))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipe = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def build_tiny_flux2_klein_pipeline(out_dir: str | Path, seed: int = 0, resolution: int = 32) -> Path:
    """Build a tiny FLUX.2 [klein] pipeline (the base, not the step-distilled model) with random weights from `seed`
    and save it with `save_pretrained`.

    FLUX.2 [klein]'s shape in miniature: a Qwen3 causal language model (hidden 16, 27 layers, so that the hidden
    states of layers 9, 18 and 27 that Flux2KleinPipeline stacks exist) conditions a transformer of one double- and
    one single-stream block (2 heads of 16, four rotary axes of 4) without a guidance embedding; the VAE's 4 latent
    channels are patchified 2x2 into 16, which its batch-norm statistics normalise (set here to FLUX.1's factors, so
    that a training that forgets them trains on other latents than the pipeline decodes).
    """
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen2TokenizerFast, Qwen3Config, Qwen3ForCausalLM

    out_dir = Path(out_dir)
    write_tiny_qwen_tokenizer(out_dir / "tokenizer")
    tokenizer = Qwen2TokenizerFast.from_pretrained(out_dir / "tokenizer")
    hidden, latent_channels = 16, 4

    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4 * latent_channels, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * hidden, timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False,  # (time, row, column, text index): the head dimension
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLFlux2(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=latent_channels, norm_num_groups=4,
        sample_size=resolution, layers_per_block=1,
    )
    with torch.no_grad():
        vae.bn.running_mean.fill_(FLUX_VAE_SHIFT)
        vae.bn.running_var.fill_(1 / FLUX_VAE_SCALING ** 2)
    torch.manual_seed(seed + 2)
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=32, num_hidden_layers=27,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    ))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipe = Flux2KleinPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              transformer=transformer, is_distilled=False)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


# Qwen-Image's per-channel latent statistics in miniature (its VAE config's latents_mean and latents_std have 16):
# away from 0 and 1, so that a training that forgets them trains on other latents than the pipeline decodes.
QWEN_LATENTS_MEAN = [0.12, -0.08, 0.2, -0.15]
QWEN_LATENTS_STD = [2.2, 2.6, 3.0, 2.4]


def build_tiny_qwen_image_pipeline(out_dir: str | Path, seed: int = 0, resolution: int = 32) -> Path:
    """Build a tiny Qwen-Image pipeline with random weights from `seed` and save it with `save_pretrained`.

    Qwen-Image's shape in miniature: a Qwen2.5-VL model (text hidden 16, 2 layers, a one-block vision tower it never
    uses) conditions a transformer of one block (2 heads of 16, rotary axes 8+4+4) without a guidance embedding; its
    video VAE (4 latent channels, 4x smaller latents, per-channel QWEN_LATENTS_MEAN/STD) encodes images as
    one-frame videos, whose latents are packed 2x2 into the transformer's 16 input channels. The byte-level tokenizer
    makes the system template longer than the 34 tokens the pipeline drops, so the conditioning keeps the rest of
    the template, the same for every prompt. The scheduler is Qwen-Image's (dynamic exponential shifting, a
    terminal sigma of 0.02).
    """
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2TokenizerFast

    out_dir = Path(out_dir)
    # The pipeline reads up to 1024 prompt tokens after the 34 it drops.
    write_tiny_qwen_tokenizer(out_dir / "tokenizer", model_max_length=1024 + 34, vision_tokens=True)
    tokenizer = Qwen2TokenizerFast.from_pretrained(out_dir / "tokenizer")
    hidden, latent_channels = 16, 4

    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=4 * latent_channels, out_channels=latent_channels, num_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=hidden, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),  # (frame, row, column): must add up to the head dimension
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLQwenImage(
        base_dim=24, z_dim=latent_channels, dim_mult=[1, 2, 4], num_res_blocks=1, temperal_downsample=[False, True],
        latents_mean=QWEN_LATENTS_MEAN, latents_std=QWEN_LATENTS_STD,
    )
    _like_a_trained_qwen_vae(vae)
    vision_ids = tokenizer.convert_tokens_to_ids(list(QWEN_VISION_TOKENS))
    torch.manual_seed(seed + 2)
    text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config={"hidden_size": hidden, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "vocab_size": len(tokenizer), "rope_theta": 1e6,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                     "bos_token_id": None, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={"depth": 1, "hidden_size": hidden, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": hidden},
        hidden_size=hidden, vocab_size=len(tokenizer), bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        vision_start_token_id=vision_ids[0], vision_end_token_id=vision_ids[1], image_token_id=vision_ids[2],
        video_token_id=vision_ids[3],
    )).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
                                                base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02,
                                                time_shift_type="exponential")
    pipe = QwenImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                             transformer=transformer)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def _like_a_trained_qwen_vae(vae, gain: float = 32.0, log_variance: float = -14.0) -> None:
    """_like_a_trained_vae for Qwen-Image's VAE, whose posterior's means and log-variances come from its 1x1x1
    quant_conv: a narrow posterior, and latents that its latents_mean/std bring to about zero mean and unit
    variance (a random encoder's come out near +-0.08 on photos: the gain, and latents_mean as the offset)."""
    _narrow_posterior(vae.quant_conv, vae.config.z_dim, gain, vae.config.latents_mean, log_variance)


def build_base_model(kind: str, out_dir: str | Path, seed: int = 0, resolution: int = 32) -> Path:
    builders = {BUILTIN_TINY: build_tiny_pipeline, BUILTIN_TINY_XL: build_tiny_xl_pipeline,
                BUILTIN_TINY_FLUX: build_tiny_flux_pipeline, BUILTIN_TINY_FLUX2_KLEIN: build_tiny_flux2_klein_pipeline,
                BUILTIN_TINY_QWEN_IMAGE: build_tiny_qwen_image_pipeline}
    return builders[kind](out_dir, seed=seed, resolution=resolution)
