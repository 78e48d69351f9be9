"""Base models: build the tiny built-in pipeline, and load any base model through `from_pretrained`.

`base_model` in the config is one of:
- `builtin:tiny`: a tiny SD-1.x pipeline built here from small configs and a fixed seed (CPU, seconds), random
  weights: for plumbing tests;
- `builtin:tiny-xl`: the same for the SDXL family (two text encoders, size conditioning);
- `builtin:world`: a small SD-1.x pipeline pretrained on the conceptbench world, committed with the package
  (conceptbench/world/weights/base_model);
- a local diffusers folder (e.g. a downloaded Stable Diffusion 1.5);
- a hub id such as `stable-diffusion-v1-5/stable-diffusion-v1-5` (needs internet on first use).
Whatever the source, later steps load it with `from_pretrained` of its family's pipeline (StableDiffusionPipeline or
StableDiffusionXLPipeline, read from its model_index.json), so the tiny models test the code paths real runs take.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from .world import BUILTIN_WORLD, world_path

BUILTIN_TINY = "builtin:tiny"
BUILTIN_TINY_XL = "builtin:tiny-xl"
BUILT_BY_THE_WORKFLOW = (BUILTIN_TINY, BUILTIN_TINY_XL)  # rule base_model writes them to results/base_model
# model_index.json's _class_name -> family; a family decides how prompts condition the UNet (sdxl: two text
# encoders, pooled embeddings and size conditioning).
FAMILIES = {"StableDiffusionPipeline": "sd", "StableDiffusionXLPipeline": "sdxl"}

# Pipeline components that SD-1.x checkpoints may carry but this benchmark never uses.
NO_EXTRAS = dict(safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False)


def char_level_vocab(merges: Sequence[tuple[str, str]] = ()) -> dict[str, int]:
    """A CLIP BPE vocabulary: the 256 byte symbols, their end-of-word forms, the tokens `merges` make, BOS/EOS.

    With no merges the CLIP tokenizer splits every word into characters, which is all a tiny random model needs
    and lets the project ship its own tokenizer instead of downloading one. The world model passes merges that
    make each of its words one token (conceptbench.world.tokenizer).
    """
    symbols = sorted(_byte_symbols())
    tokens = symbols + [s + "</w>" for s in symbols] + [a + b for a, b in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins that byte-level BPE (GPT-2, CLIP) uses for the 256 byte values.

    Printable Latin-1 bytes stand for themselves; the others are shifted past 255 so none is whitespace or control.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(shifted))]


def write_tiny_tokenizer(folder: Path, merges: Sequence[tuple[str, str]] = ()) -> None:
    """Write a CLIP tokenizer (vocab.json, merges.txt, tokenizer_config.json) that CLIPTokenizer.from_pretrained reads."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(char_level_vocab(merges), ensure_ascii=False, sort_keys=True))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    config = {"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
              "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))


def sd1_scheduler():
    """The noise schedule of Stable Diffusion 1.x, so training and sampling code sees the same numbers as real runs."""
    from diffusers import PNDMScheduler

    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    # As in SD-1.5's own scheduler_config.json: DDIM and others built from this config must not clip the predicted
    # latents to [-1, 1] (their default), which ruins images whose latents have unit variance.
    scheduler.register_to_config(clip_sample=False)
    return scheduler


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


def resolve_model(model: str | Path) -> str:
    """`builtin:world` -> the folder of the committed world base model; anything else as it is."""
    if str(model) == BUILTIN_WORLD:
        return str(world_path("base_model"))
    return str(model)


def pipeline_family(model: str | Path) -> str:
    """'sd' or 'sdxl', from the model's model_index.json (a local folder's, or the hub's, fetched alone)."""
    from diffusers import DiffusionPipeline

    model = resolve_model(model)
    index = Path(model) / "model_index.json"
    config = json.loads(index.read_text()) if index.is_file() else DiffusionPipeline.load_config(model)
    name = config.get("_class_name")
    if name not in FAMILIES:
        raise ValueError(f"{model} is a {name}; conceptbench runs {' and '.join(sorted(FAMILIES))} models")
    return FAMILIES[name]


def is_sdxl(pipe) -> bool:
    return type(pipe).__name__ == "StableDiffusionXLPipeline"


def text_encoders(pipe) -> list[tuple]:
    """(component name, tokenizer, text encoder) of each text encoder the pipeline has: text_encoder, and
    text_encoder_2 on SDXL."""
    encoders = [("text_encoder", pipe.tokenizer, pipe.text_encoder)]
    if is_sdxl(pipe):
        encoders.append(("text_encoder_2", pipe.tokenizer_2, pipe.text_encoder_2))
    return encoders


def load_pipeline(model: str | Path, torch_dtype: torch.dtype = torch.float32):
    """Load a base model (local folder or hub id) as a stock StableDiffusionPipeline or StableDiffusionXLPipeline
    (its family), safetensors only."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    model = resolve_model(model)
    if model in BUILT_BY_THE_WORKFLOW:
        raise ValueError(f"{model} must be built first (rule base_model writes it to results/base_model); "
                         "load that folder instead")
    if Path(model).exists() and not (Path(model) / "model_index.json").is_file():
        raise FileNotFoundError(f"{model} is not a diffusers pipeline folder: model_index.json is missing. "
                                "Point base_model at a folder written by save_pretrained, or at a hub id.")
    if pipeline_family(model) == "sdxl":
        pipe = StableDiffusionXLPipeline.from_pretrained(model, use_safetensors=True, feature_extractor=None,
                                                         image_encoder=None)
    else:
        pipe = StableDiffusionPipeline.from_pretrained(model, use_safetensors=True, **NO_EXTRAS)
    if torch_dtype != torch.float32:
        pipe.to(dtype=torch_dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def model_identity(model_dir: str | Path) -> dict:
    """What identifies a saved base model in metadata: its source and a hash of its weight files."""
    import hashlib

    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    for path in sorted(model_dir.rglob("*.safetensors")):
        digest.update(path.relative_to(model_dir).as_posix().encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return {"path": str(model_dir), "weights_sha256": digest.hexdigest()}
