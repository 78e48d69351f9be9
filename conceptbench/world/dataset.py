"""Rendered world data sets: many scenes at once, in parallel, deterministic from a seed.

A data set is the scenes' pixels (uint8, N x H x W x 3), their captions and their oracle labels (indices into
`vocabulary.ATTRIBUTES`). The scenes of chunk k come from `default_rng([seed, k])`, so the result does not depend
on how many processes render it.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from conceptbench.world import vocabulary as V
from conceptbench.world.scenes import Scene, render, restage, sample_scene

CHUNK = 500


@dataclass
class WorldData:
    images: np.ndarray  # uint8 (N, H, W, 3)
    captions: list[str]
    labels: dict[str, np.ndarray]  # attribute -> int64 (N,) index into vocabulary.ATTRIBUTES[attribute]
    scenes: list[Scene]

    def __len__(self) -> int:
        return len(self.captions)


def label_indices(scene: Scene) -> dict[str, int]:
    return {name: V.ATTRIBUTES[name].index(value) for name, value in scene.labels().items()}


def _map_chunks(fn, n: int, workers: int, seed: int, *rest) -> list:
    """fn((seed, chunk index, chunk size, *rest)) over the chunks of n items, in order, in `workers` processes."""
    jobs = [(seed, k, min(CHUNK, n - k * CHUNK), *rest) for k in range((n + CHUNK - 1) // CHUNK)]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(fn, jobs))
    return [fn(job) for job in jobs]


def _render_chunk(args) -> tuple[np.ndarray, list[Scene]]:
    seed, chunk, count, size, fixed = args
    rng = np.random.default_rng([seed, chunk])
    scenes = [sample_scene(rng, **fixed) for _ in range(count)]
    return np.stack([np.asarray(render(scene, size)) for scene in scenes]), scenes


def render_scenes(scenes: list[Scene], size: int) -> np.ndarray:
    return np.stack([np.asarray(render(scene, size)) for scene in scenes])


def make_world_data(n: int, seed: int, size: int = 32, workers: int = 1, **fixed) -> WorldData:
    """`n` random scenes (attributes in `fixed`, e.g. class_noun="dog", are held fixed), rendered at `size`."""
    parts = _map_chunks(_render_chunk, n, workers, seed, size, fixed)
    scenes = [scene for _, chunk_scenes in parts for scene in chunk_scenes]
    labels = [label_indices(scene) for scene in scenes]
    return WorldData(
        images=np.concatenate([images for images, _ in parts]),
        captions=[scene.caption() for scene in scenes],
        labels={name: np.array([row[name] for row in labels], dtype=np.int64) for name in V.ATTRIBUTES},
        scenes=scenes,
    )


def _render_pairs(args) -> tuple[np.ndarray, np.ndarray]:
    seed, chunk, count, size = args
    rng = np.random.default_rng([seed, chunk])
    firsts = [sample_scene(rng) for _ in range(count)]
    seconds = [restage(scene, rng) for scene in firsts]
    return render_scenes(firsts, size), render_scenes(seconds, size)


def make_identity_pairs(n: int, seed: int, size: int = 32, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`n` pairs of pictures of one individual each (same class and look, other context, rendering and pose)."""
    parts = _map_chunks(_render_pairs, n, workers, seed, size)
    return np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])
