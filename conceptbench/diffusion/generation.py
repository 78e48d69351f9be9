"""Image generation: seeded per image, so any set can be regenerated bit for bit and methods compare paired."""

from __future__ import annotations

from pathlib import Path

import torch

from conceptbench.files import AtomicFolder


def generate_batches(pipe, prompts: list[str], seeds: list[int], *, steps: int, guidance_scale: float,
                     resolution: int, batch_size: int, output_type: str = "pil", log=None):
    """One image per (prompt, seed) pair, `batch_size` pairs per pipeline call (prompts may differ within a call).

    Each image's noise comes from its own generator seeded with its seed, so its starting point does not depend on
    which others share its batch.
    """
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    images = []
    for start in range(0, len(seeds), batch_size):
        chunk = slice(start, start + batch_size)
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds[chunk]]
        result = pipe(prompts[chunk], num_inference_steps=steps, guidance_scale=guidance_scale,
                      height=resolution, width=resolution, generator=generators, output_type=output_type)
        images.extend(result.images)
        if log is not None:
            log(f"{len(images)}/{len(seeds)} images")
    return images


def generate_sets(pipe, sets: list[tuple[str, str, list[int]]], out_dir: str | Path, *, steps: int,
                  guidance_scale: float, resolution: int, batch_size: int, log=print) -> None:
    """Generate every (relative folder, prompt, seeds) set into `out_dir`, atomically as a whole.

    The images of all sets are made in batches of `batch_size` across prompts; image i of a set is named i.png
    (000.png, ...) and comes from the set's i-th seed.
    """
    with AtomicFolder(out_dir) as tmp:
        write_sets(pipe, sets, tmp, steps=steps, guidance_scale=guidance_scale, resolution=resolution,
                   batch_size=batch_size, log=log)
        log(f"-> {out_dir}")


def write_sets(pipe, sets: list[tuple[str, str, list[int]]], folder: Path, *, steps: int, guidance_scale: float,
               resolution: int, batch_size: int, log=print) -> None:
    """generate_sets' work, into an existing `folder` (not atomic by itself)."""
    jobs = [(relative, index, prompt, seed) for relative, prompt, seeds in sets for index, seed in enumerate(seeds)]
    images = generate_batches(pipe, [job[2] for job in jobs], [job[3] for job in jobs], steps=steps,
                              guidance_scale=guidance_scale, resolution=resolution, batch_size=batch_size, log=log)
    for (relative, index, _, _), image in zip(jobs, images):
        (folder / relative).mkdir(parents=True, exist_ok=True)
        image.save(folder / relative / f"{index:03d}.png")
    log(f"{len(images)} images of {len(sets)} prompt(s)")
