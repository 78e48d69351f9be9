"""Image generation: seeded per image, so any set can be regenerated bit for bit and methods compare paired."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "dpmsolver": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
}

# Seeds of the second baseline half start this far above the first, so the two halves never share a seed.
SECOND_HALF_OFFSET = 1_000_000


def use_scheduler(pipe, name: str):
    import diffusers

    try:
        cls = getattr(diffusers, SCHEDULERS[name])
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {sorted(SCHEDULERS)}") from None
    pipe.scheduler = cls.from_config(pipe.scheduler.config)
    return pipe


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device: cuda, but no CUDA device is visible; set device: cpu or auto")
    return device


def seeds_for(first_seed: int, count: int) -> list[int]:
    return [first_seed + index for index in range(count)]


def generate_images(pipe, prompt: str, seeds: list[int], *, steps: int, guidance_scale: float, resolution: int,
                    batch_size: int):
    """PIL images, one per seed; each image's noise comes from its own generator seeded with its seed."""
    images = []
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start:start + batch_size]
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in chunk]
        result = pipe([prompt] * len(chunk), num_inference_steps=steps, guidance_scale=guidance_scale,
                      height=resolution, width=resolution, generator=generators, output_type="pil")
        images.extend(result.images)
    return images


def write_image_set(images, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        image.save(folder / f"{index:03d}.png")


class AtomicFolder:
    """Write a folder under a temporary name and rename it into place only when complete.

    A job killed mid-way leaves `<name>.partial`, never a half-filled `<name>` that looks finished.
    """

    def __init__(self, final: str | Path):
        self.final = Path(final)
        self.partial = self.final.with_name(self.final.name + ".partial")

    def __enter__(self) -> Path:
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        return self.partial

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
            return False
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.partial, self.final)
        return False


def generate_sets(pipe, sets: list[tuple[str, str, list[int]]], out_dir: str | Path, *, steps: int,
                  guidance_scale: float, resolution: int, batch_size: int, log=print) -> None:
    """Generate every (relative folder, prompt, seeds) set into `out_dir`, atomically as a whole."""
    with AtomicFolder(out_dir) as tmp:
        for number, (relative, prompt, seeds) in enumerate(sets, 1):
            images = generate_images(pipe, prompt, seeds, steps=steps, guidance_scale=guidance_scale,
                                     resolution=resolution, batch_size=batch_size)
            write_image_set(images, tmp / relative)
            log(f"[{number}/{len(sets)}] {len(images)} images of {prompt!r} -> {relative}")
