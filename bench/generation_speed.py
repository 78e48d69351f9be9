"""CPU time per generated image on builtin:world, by batch size and memory format: what a generation job's images
cost, and whether batching or channels-last would make them cheaper.

    python bench/generation_speed.py [--images 70] [--batches 25 35 70]

One process, one torch thread (as a job runs), the world default's sampling (DDIM, 10 steps, guidance 5, 32 px),
70 images per setting (a study run's final set: 25 of the plain prompt and 45 of the context prompts), after one
warm-up batch. Prints CPU milliseconds per image for each batch size, first in the default memory format, then with
the UNet and VAE in channels-last. Nothing else should run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import resource

import torch

from conceptbench.diffusion.pipelines import load_pipeline
from conceptbench.diffusion.schedulers import use_scheduler


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_image(pipe, images: int, batch: int) -> float:
    """CPU seconds per image for `images` images made `batch` at a time."""
    prompts = ["a photo of dog in a forest"] * images
    start = cpu_seconds()
    for first in range(0, images, batch):
        count = min(batch, images - first)
        pipe(prompts[:count], num_inference_steps=10, guidance_scale=5.0, height=32, width=32, output_type="pil",
             generator=[torch.Generator("cpu").manual_seed(first + i) for i in range(count)])
    return (cpu_seconds() - start) / images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=70)
    parser.add_argument("--batches", type=int, nargs="+", default=[25, 35, 70])
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = use_scheduler(load_pipeline("builtin:world"), "ddim")
    per_image(pipe, 10, 10)  # warm-up: first calls allocate
    for layout in ("default", "channels_last"):
        if layout == "channels_last":
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
        for batch in args.batches:
            print(f"{layout:14s} batch {batch:3d}: {1000 * per_image(pipe, args.images, batch):.1f} ms of CPU per image",
                  flush=True)


if __name__ == "__main__":
    main()
