"""Base-model pipelines: load any base model as its family's stock diffusers pipeline, and what identifies it.

Whatever the source (diffusion/sources.py), a base model loads with `from_pretrained` of its family's pipeline
(diffusion/families/: StableDiffusionPipeline, StableDiffusionXLPipeline or FluxPipeline, read from its
model_index.json), so the tiny models test the code paths real runs take.
"""

from __future__ import annotations

from pathlib import Path

import torch

from conceptbench.diffusion.families import family_of, model_family
from conceptbench.diffusion.families.sd1 import NO_EXTRAS  # noqa: F401  (imported from here by the world, bench)
from conceptbench.diffusion.sources import BUILT_BY_THE_WORKFLOW, resolve


def sd1_scheduler():
    """The noise schedule of Stable Diffusion 1.x, so training and sampling code sees the same numbers as real runs."""
    from diffusers import PNDMScheduler

    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    # As in SD-1.5's own scheduler_config.json: DDIM and others built from this config must not clip the predicted
    # latents to [-1, 1] (their default), which ruins images whose latents have unit variance.
    scheduler.register_to_config(clip_sample=False)
    return scheduler


def pipeline_family(model: str | Path) -> str:
    """The family's short name ('sd', 'sdxl', 'flux1'), from the model's model_index.json (a local folder's, or the
    hub's, fetched alone)."""
    return model_family(model).key


def text_encoders(pipe) -> list[tuple]:
    """(component name, tokenizer, text encoder) of each text encoder the pipeline has: text_encoder, and
    text_encoder_2 on SDXL and FLUX.1."""
    return family_of(pipe).text_encoders(pipe)


def load_pipeline(model: str | Path, torch_dtype: torch.dtype = torch.float32):
    """Load a base model (local folder or hub id) as its family's stock pipeline, safetensors only."""
    model = resolve(model)
    if model in BUILT_BY_THE_WORKFLOW:
        raise ValueError(f"{model} must be built first (rule base_model writes it to results/base_model); "
                         "load that folder instead")
    if Path(model).exists() and not (Path(model) / "model_index.json").is_file():
        raise FileNotFoundError(f"{model} is not a diffusers pipeline folder: model_index.json is missing. "
                                "Point base_model at a folder written by save_pretrained, or at a hub id.")
    family = model_family(model)
    pipe = family.pipeline_type().from_pretrained(model, use_safetensors=True, **family.load_options)
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
