"""Seconds per unit of work, per model family at its preset resolution, each figure with where it comes from.

Units (conceptbench.cost.work): a training sample (one image through the UNet forward and backward), an image
denoising step (with classifier-free guidance, as the pipelines run it) and an image embedded by the extractors.
A figure is "measured" (here: machine, command, date) or "published" (the document and what it says); a figure
nobody has is None, and the cost says "unknown" rather than guess. No GPU figure has been measured here yet:
`python bench/gpu_sd15_check.py` on a GPU would give the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from conceptbench.diffusion.families import source_family
from conceptbench.diffusion.sources import BUILTIN_MODELS, BUILTIN_WORLD

STAGES = ("train", "generate", "features", "other")  # "other": scores, tables, plots, priced per job


@dataclass(frozen=True)
class Figure:
    per_unit: float | None  # seconds per unit of the stage; None: nobody has the figure
    per_job: float | None  # seconds of start-up per job (process, imports, model loading); None: not counted
    device: str
    kind: str  # "measured" or "published"
    source: str


@dataclass(frozen=True)
class Family:
    name: str
    resolution: int  # the figures hold at this image size only
    hardware: str  # "GPU" or "CPU": what the hours are hours of
    figures: dict[str, Figure] = field(default_factory=dict)


# The pilot of config/world_study.yaml (README, "The world study"): the preset with `concepts: {cyan_dog: ...}` and
# `seeds: [0]` (cyan_dog x the 5 method types x 1 seed, the study's settings), `snakemake --cores all` on the
# project's 2-core CPU machine, cold starts, 2026-12-07; each job's cpu_time (CPU-seconds of its process) against its
# work, fitted per stage by `python bench/cpu_throughput.py RUN_DIR PILOT_CONFIG` (residuals within 1.3 s).
_PILOT = ("measured: bench/cpu_throughput.py on the 35 jobs of a 1-concept x 5-method x 1-seed pilot of "
          "config/world_study.yaml (2 cores, cold starts, 2026-12-07): cpu_time per job, least squares per stage")
_CPU = "CPU (CPU-seconds; the pilot's 2-core machine)"
WORLD = Family("builtin:world", 32, "CPU", {
    "train": Figure(0.0157, 5.66, _CPU, "measured", _PILOT),
    "generate": Figure(0.00654, 5.95, _CPU, "measured", _PILOT),
    "features": Figure(0.00669, 3.93, _CPU, "measured", _PILOT),
    "other": Figure(0.0, 0.82, _CPU, "measured", _PILOT),
})

# Published figures at float32, the precision the generation jobs run in (the trainers' mixed_precision aside).
_TI_README = ("published: diffusers examples/textual_inversion/README.md, 'A full training run takes ~1 hour on "
              "one V100 GPU' (3000 steps x batch 1 x 4 gradient accumulation at 512 px: 3600 s / 12000 samples; "
              "a Textual Inversion figure, applied to every method type: each backpropagates through the whole "
              "UNet, and DreamBooth's optimizer step over all its weights comes on top); "
              "https://github.com/huggingface/diffusers/blob/main/examples/textual_inversion/README.md")
_FP16_DOC = ("published: diffusers docs 'Speed up inference', one 512x512 image, 50 DDIM steps, NVIDIA A100: 5.27 s "
             "at float32 (3.51 s fp16) = 0.105 s/step; "
             "https://huggingface.co/docs/diffusers/v0.33.1/optimization/fp16")
_FAST_DOC = ("published: diffusers tutorial 'Accelerate inference of text-to-image diffusion models', SDXL base, "
             "1024 px, 30 steps, batch 1, 80GB 400W A100: 7.36 s at float32 without SDPA (the jobs use SDPA, so "
             "this is an upper bound; 3.31 s in bfloat16 with SDPA) = 0.245 s/step; "
             "https://huggingface.co/docs/diffusers/v0.25.0/tutorials/fast_diffusion")
SD1 = Family("SD-1.x", 512, "GPU", {
    "train": Figure(0.30, None, "NVIDIA V100", "published", _TI_README),
    "generate": Figure(0.105, None, "NVIDIA A100", "published", _FP16_DOC),
})
SDXL = Family("SDXL", 1024, "GPU", {
    "generate": Figure(0.245, None, "NVIDIA A100 80GB", "published", _FAST_DOC),
})

# No FLUX.1, FLUX.2 [klein] or Qwen-Image figure yet, measured or published: their costs print as unknown.
FLUX1 = Family("FLUX.1", 512, "GPU", {})
FLUX2_KLEIN = Family("FLUX.2 [klein]", 1024, "GPU", {})
QWEN_IMAGE = Family("Qwen-Image", 1024, "GPU", {})
# conceptbench.diffusion.families' keys
_BY_FAMILY = {"sd": SD1, "sdxl": SDXL, "flux1": FLUX1, "flux2_klein": FLUX2_KLEIN, "qwen_image": QWEN_IMAGE}


def family_of(base_model: str, base_dir: Path) -> Family | None:
    """The family whose figures price a base model, or None where the table has none. Reads nothing from the hub:
    the model family as start-up knows it (a local folder's model_index.json, a preset's hub id); the world has
    its own figures and the tiny random builtins none."""
    if base_model == BUILTIN_WORLD:
        return WORLD
    if base_model in BUILTIN_MODELS["base_model"]:
        return None
    try:
        family = source_family(base_model, Path(base_dir))
    except ValueError:  # a pipeline of no family: start-up refuses it
        return None
    return None if family is None else _BY_FAMILY.get(family.key)
