"""A generation job killed mid-way resumes: the images it wrote stay as they are, only the missing ones are made, and
the set comes out bitwise the set of an uninterrupted run. Its log shows images done, the rate and the time left."""

import copy
import os
import re
from pathlib import Path

import pytest
import torch

from conceptbench.diffusion.generation import (
    Progress,
    format_duration,
    generate_batches,
    generation_key,
    make_image_sets,
)
from conceptbench.diffusion.pipelines import load_pipeline
from conceptbench.diffusion.schedulers import use_scheduler

SETTINGS = {"steps": 2, "guidance_scale": 5.0, "resolution": 32, "batch_size": 3}
FINAL_SETS = [("plain", "a photo of sks dog", [0, 1, 2, 3]), ("forest", "a photo of sks dog in a forest", [0, 1, 2, 3])]
SNAPSHOT_SETS = [("plain", "a photo of sks dog", [0, 1])]
SNAPSHOT = "snapshots/step1"
# The final model's 8 images come in batches of 3, 3 and 2 (plain/000-002; plain/003 + forest/000-001; forest/002-003),
# the snapshot's 2 in one batch: 4 pipeline calls, 10 images.
TOTAL = 10


class Killed(Exception):
    """Stands for the kill: the job ends in the middle of its work."""


class Job:
    """One attempt of a generation job on the tiny model: counts the models it loads and the images it computes, and
    is killed when it starts pipeline call number `kill_at`."""

    def __init__(self, pipe, kill_at=None):
        self.kill_at = kill_at
        self.calls, self.computed, self.loaded, self.lines = 0, 0, [], []
        job = self

        class Counting(type(pipe)):  # still the stock pipeline's family (families.family_of)
            def __call__(self, prompt, **kwargs):
                job.calls += 1
                if job.calls == job.kill_at:
                    raise Killed(f"killed at call {job.calls}")
                job.computed += len(prompt)
                return super().__call__(prompt=prompt, **kwargs)

        self.pipe = copy.copy(pipe)
        self.pipe.__class__ = Counting

    def loader(self, name):
        def load():
            self.loaded.append(name)
            return self.pipe

        return load

    def run(self, out, key="key-1"):
        parts = [(self.loader("final"), FINAL_SETS, ""), (self.loader("snapshot"), SNAPSHOT_SETS, SNAPSHOT)]
        return make_image_sets(out, parts, key=key, log=self.lines.append, **SETTINGS)


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time of each image: the same after a resume means the file was kept, not rewritten."""
    return {name: ((folder / name).stat().st_ino, (folder / name).stat().st_mtime_ns) for name in pngs(folder)}


@pytest.fixture(scope="module")
def pipe(tiny_model):
    # One thread, as conftest's per-test fixture sets it, already for this module's fixtures: image bits depend on it.
    torch.set_num_threads(1)
    return use_scheduler(load_pipeline(tiny_model), "ddim")


@pytest.fixture(scope="module")
def straight(pipe, tmp_path_factory):
    """The set of an uninterrupted job, and that job."""
    job = Job(pipe)
    out = tmp_path_factory.mktemp("straight") / "images" / "m"
    assert job.run(out) == TOTAL
    return out, job


def test_an_uninterrupted_job_writes_what_plain_generation_saves(straight, pipe, tmp_path):
    out = straight[0]
    assert files(out) == sorted([*(f"{r}/{i:03d}.png" for r, _, s in FINAL_SETS for i in range(len(s))),
                                 *(f"{SNAPSHOT}/plain/{i:03d}.png" for i in range(2))])
    assert not out.with_name("m.partial").exists()
    # The same bytes as the images of generate_batches saved as the job saved them before it could resume.
    prompts = [prompt for _, prompt, seeds in FINAL_SETS for _ in seeds]
    images = generate_batches(pipe, prompts, [seed for *_, seeds in FINAL_SETS for seed in seeds], **SETTINGS)
    names = [f"{r}/{i:03d}.png" for r, _, seeds in FINAL_SETS for i in range(len(seeds))]
    for name, image in zip(names, images):
        image.save(tmp_path / "plain.png")
        assert (tmp_path / "plain.png").read_bytes() == (out / name).read_bytes(), name


def test_a_killed_job_resumes_to_the_same_images_making_only_the_missing_ones(straight, pipe, tmp_path):
    out, partial = tmp_path / "images" / "m", tmp_path / "images" / "m.partial"
    with pytest.raises(Killed):
        Job(pipe, kill_at=3).run(out)  # two batches made and written: 6 images
    assert not out.exists(), "a killed job must not leave a set under the final name"
    assert len(pngs(partial)) == 6
    # A kill while the second batch was being written: one of its images is missing and its write left a .tmp.
    (partial / "forest" / "001.png").unlink()
    (partial / "forest" / "001.png.tmp").write_bytes(b"half an image")
    kept_bytes, kept_stamps = pngs(partial), stamps(partial)

    again = Job(pipe)
    assert again.run(out) == TOTAL - 5  # the image of the half-written batch, batch 3 and the snapshot's batch
    assert again.computed == 3 + 2 + 2, "only the batches with a missing image are made again"
    assert pngs(out) == pngs(straight[0]), "the resumed set differs from an uninterrupted run's"
    assert files(out) == files(straight[0]), "the resumed set holds other files than an uninterrupted run's"
    assert {name: data for name, data in pngs(out).items() if name in kept_bytes} == kept_bytes
    assert {name: stamp for name, stamp in stamps(out).items() if name in kept_stamps} == kept_stamps
    assert not partial.exists()
    assert any(f"resuming {out}: 5 of {TOTAL} images were made by an earlier attempt" in line for line in again.lines)


def test_a_job_killed_in_its_snapshot_part_does_not_load_the_final_model_again(straight, pipe, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(Killed):
        Job(pipe, kill_at=4).run(out)  # every image of the final model made, none of the snapshot's
    again = Job(pipe)
    assert again.run(out) == 2
    assert again.loaded == ["snapshot"]
    assert pngs(out) == pngs(straight[0])


def test_a_partial_set_made_with_other_settings_is_not_reused(straight, pipe, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(Killed):
        Job(pipe, kill_at=3).run(out, key="key-1")
    again = Job(pipe)
    assert again.run(out, key="key-2") == TOTAL
    assert any("discarded" in line and "other inputs or settings" in line for line in again.lines), again.lines
    assert not any("resuming" in line for line in again.lines)
    assert pngs(out) == pngs(straight[0])


PROGRESS_LINE = re.compile(r"^(\d+)/10 images \(\d+%\), \d+\.\d\d images/s, about \d+ s left$")


def test_the_log_shows_images_done_rate_and_time_left(straight):
    _, job = straight
    done = [int(match[1]) for line in job.lines if (match := PROGRESS_LINE.match(line))]
    assert done == [3, 6, 8, 10], job.lines  # one line per batch


def test_progress_line_numbers():
    lines = []
    progress = Progress(100, done=40, log=lines.append)  # 40 made by an earlier attempt: not this one's speed
    progress.add(10, 5.0)
    progress.add(10, 5.0)
    assert lines == ["50/100 images (50%), 2.00 images/s, about 25 s left",
                     "60/100 images (60%), 2.00 images/s, about 20 s left"]
    assert [format_duration(s) for s in (7.4, 125, 7300)] == ["7 s", "2 min 05 s", "2 h 01 min"]


def test_the_key_changes_with_settings_inputs_and_device(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "weights.safetensors").write_bytes(b"one")
    settings = {"sets": [["plain", "a photo of sks dog", [0, 1]]], "generation": {"steps": 10}}
    key = generation_key(settings, [checkpoint], "cpu")
    assert generation_key(settings, [checkpoint], "cpu") == key
    assert generation_key({**settings, "generation": {"steps": 20}}, [checkpoint], "cpu") != key
    assert generation_key(settings, [checkpoint], "cuda") != key
    stat = (checkpoint / "weights.safetensors").stat()
    os.utime(checkpoint / "weights.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert generation_key(settings, [checkpoint], "cpu") != key, "a retrained checkpoint must change the key"
