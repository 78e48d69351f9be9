"""The tiny random base models the workflow builds for plumbing tests: `builtin:tiny` (SD-1.x) and `builtin:tiny-xl`
(SDXL), from small configs and a fixed seed (CPU, seconds), saved with `save_pretrained`."""

from __future__ import annotations

from pathlib import Path

import torch

from conceptbench.diffusion.pipelines import NO_EXTRAS, sd1_scheduler
from conceptbench.diffusion.sources import BUILTIN_TINY, BUILTIN_TINY_XL
from conceptbench.diffusion.tokenizers import write_tiny_tokenizer


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


def build_base_model(kind: str, out_dir: str | Path, seed: int = 0, resolution: int = 32) -> Path:
    builders = {BUILTIN_TINY: build_tiny_pipeline, BUILTIN_TINY_XL: build_tiny_xl_pipeline}
    return builders[kind](out_dir, seed=seed, resolution=resolution)
