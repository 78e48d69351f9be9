"""Image generation: seeded per image, so any set can be regenerated bit for bit and methods compare paired.

A generation job resumes: each batch's images are written, atomically, as soon as the batch is made, into the
output's `<name>.partial/` folder (which Snakemake's clean-up of a failed job leaves alone), and a re-run with the
same inputs and settings keeps them and makes only the batches still missing. Batches are cut the same way in every
attempt, so a resumed set is bitwise the set of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from conceptbench.files import AtomicFolder, ResumableFolder, write_atomically

Sets = list[tuple[str, str, list[int]]]  # (folder relative to the output, prompt, one seed per image)


def _generate(pipe, prompts: list[str], seeds: list[int], *, steps: int, guidance_scale: float, resolution: int,
              output_type: str) -> list:
    """One pipeline call. Each image's noise comes from its own generator seeded with its seed, so its starting
    point does not depend on which others share its batch."""
    from conceptbench.diffusion.families import family_of

    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    guidance = family_of(pipe).sampling_options(guidance_scale, len(prompts))
    return pipe(prompt=prompts, num_inference_steps=steps, height=resolution, width=resolution, generator=generators,
                output_type=output_type, **guidance).images


def generate_batches(pipe, prompts: list[str], seeds: list[int], *, steps: int, guidance_scale: float,
                     resolution: int, batch_size: int, output_type: str = "pil", log=None):
    """One image per (prompt, seed) pair, `batch_size` pairs per pipeline call (prompts may differ within a call)."""
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    images = []
    for start in range(0, len(seeds), batch_size):
        chunk = slice(start, start + batch_size)
        images.extend(_generate(pipe, prompts[chunk], seeds[chunk], steps=steps, guidance_scale=guidance_scale,
                                resolution=resolution, output_type=output_type))
        if log is not None:
            log(f"{len(images)}/{len(seeds)} images")
    return images


def image_files(sets: Sets, folder: Path) -> list[tuple[Path, str, int]]:
    """(file, prompt, seed) of every image of `sets` inside `folder`, in the order they are generated: image i of a
    set is <relative folder>/<i>.png (000.png, ...) and comes from the set's i-th seed."""
    return [(Path(folder) / relative / f"{index:03d}.png", prompt, seed)
            for relative, prompt, seeds in sets for index, seed in enumerate(seeds)]


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """A job's images done out of its total, logged after each batch with the rate and the time left.

    The rate counts only the images this attempt made, over the time it spent making them (not loading models), so
    a resumed job does not claim the earlier attempt's images as its own speed.
    """

    def __init__(self, total: int, done: int = 0, log: Callable[[str], None] = print):
        self.total, self.done, self.log = total, done, log
        self.made, self.seconds = 0, 0.0

    def add(self, images: int, seconds: float) -> None:
        self.done += images
        self.made += images
        self.seconds += seconds
        rate = self.made / self.seconds if self.seconds > 0 else float("inf")
        left = (self.total - self.done) / rate
        self.log(f"{self.done}/{self.total} images ({100 * self.done / self.total:.0f}%), {rate:.2f} images/s, "
                 f"about {format_duration(left)} left")


def write_sets(pipe, sets: Sets, folder: Path, *, steps: int, guidance_scale: float, resolution: int,
               batch_size: int, log=print, progress: Progress | None = None) -> int:
    """Generate every (relative folder, prompt, seeds) set into an existing `folder` (not atomic by itself); returns
    how many images it made.

    The images of all sets are made in batches of `batch_size` across prompts, and each batch's images are written
    (each atomically) as soon as it is made. A batch whose images are all in `folder` already is skipped, so a call
    after an interrupted one makes only what is missing. A batch is always cut as in an uninterrupted call and made
    whole, because an image's pixels may depend on the size of its batch (the order of floating-point sums).
    """
    images = image_files(sets, folder)
    if progress is None:
        progress = Progress(len(images), sum(path.exists() for path, _, _ in images), log)
    made = 0
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        missing = [not path.exists() for path, _, _ in batch]
        if not any(missing):
            continue
        began = time.monotonic()
        result = _generate(pipe, [prompt for _, prompt, _ in batch], [seed for _, _, seed in batch], steps=steps,
                           guidance_scale=guidance_scale, resolution=resolution, output_type="pil")
        for (path, _, _), image, needed in zip(batch, result, missing):
            if needed:  # an image an earlier attempt wrote stays as it is
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(path, lambda tmp, image=image: image.save(tmp, format="PNG"))
        made += sum(missing)
        progress.add(sum(missing), time.monotonic() - began)
    kept = len(images) - made
    log(f"{len(images)} images of {len(sets)} prompt(s)" + (f", {kept} of them from an earlier attempt" if kept else ""))
    return made


def generate_sets(pipe, sets: Sets, out_dir: str | Path, *, steps: int, guidance_scale: float, resolution: int,
                  batch_size: int, log=print) -> None:
    """write_sets into `out_dir`, atomically as a whole (not resumable)."""
    with AtomicFolder(out_dir) as tmp:
        write_sets(pipe, sets, tmp, steps=steps, guidance_scale=guidance_scale, resolution=resolution,
                   batch_size=batch_size, log=log)
        log(f"-> {out_dir}")


# A part of a generation job: how to load the pipeline that makes its sets, the sets, and the sub-folder of the
# output they go to ("" for the output itself).
Part = tuple[Callable[[], object], Sets, str]


def make_image_sets(out_dir: str | Path, parts: list[Part], *, key: str, steps: int, guidance_scale: float,
                    resolution: int, batch_size: int, log=print) -> int:
    """The whole job of a generation rule: every part's sets into `out_dir`, which appears when all are made.

    Resumable: the images go to `<out_dir>.partial/` as they are made, and a later call with the same `key` (see
    generation_key) keeps those and makes the rest; a part's pipeline is loaded only when some of its images are
    missing. Another key starts afresh. Returns how many images this call made.
    """
    resumable = ResumableFolder(out_dir, key)
    with resumable as folder:
        files = [path for _, sets, sub in parts for path, _, _ in image_files(sets, folder / sub)]
        done = sum(path.exists() for path in files)
        if resumable.resumed:
            log(f"resuming {out_dir}: {done} of {len(files)} images were made by an earlier attempt of this job "
                f"with the same inputs and settings; kept from {resumable.partial}")
        elif resumable.discarded:
            log(f"discarded {resumable.partial}: an earlier attempt made it with other inputs or settings")
        progress = Progress(len(files), done, log)
        made = 0
        for load, sets, sub in parts:
            if not all(path.exists() for path, _, _ in image_files(sets, folder / sub)):
                made += write_sets(load(), sets, folder / sub, steps=steps, guidance_scale=guidance_scale,
                                   resolution=resolution, batch_size=batch_size, log=log, progress=progress)
    return made


def generation_key(settings: dict, inputs: list[str | Path], device: str) -> str:
    """A digest of everything that decides a generation job's images, so that a partial set is only ever finished
    by the same job: its settings (the rule's params: prompts, seeds, generation settings, the method, the code
    digest), its input files (by path, size and modification time: a retrained checkpoint or rebuilt model is a new
    file, as Snakemake judges it too), the device and thread count (floating-point sums may differ between them)
    and the versions of the libraries that compute the images."""
    import diffusers
    import transformers

    stamps = []
    for item in inputs:
        root = Path(item)
        for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]:
            stat = path.stat()
            stamps.append([path.as_posix(), stat.st_size, stat.st_mtime_ns])
    record = {"settings": settings, "inputs": stamps, "device": device, "threads": torch.get_num_threads(),
              "versions": [torch.__version__, diffusers.__version__, transformers.__version__]}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]
