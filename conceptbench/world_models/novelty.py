"""Is a concept new to the base model? Its photos against the base model's own images of its class.

The check the report makes after a run (conceptbench.report.summary.not_novel), made before one, for concept
folders about to enter a study: the untrained builtin:world draws `n_images` images of "a photo of <class>" (the
default's generation settings), and the world's CLIP and DINO embed them and the photos. Per concept and extractor,
the base images' similarity to the photos (each image's mean cosine to the photos, a t interval over the images) is
compared with the photos' similarity to each other (the reference row of a run). A concept is novel when the base
model's interval lies wholly below the reference on both extractors: it does not draw this individual, beyond noise.

    python -m conceptbench.world_models novelty data/world_study [--images 25]

`novel_individuals` uses it to pick the world study's concepts: of the generated individuals
(conceptbench/world/individuals.py), the first novel ones of each class:

    python -m conceptbench.world_models concepts --n 32 --out data/world_study
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from conceptbench.diffusion.generation import generate_batches
from conceptbench.diffusion.pipelines import load_pipeline
from conceptbench.diffusion.sources import BUILTIN_WORLD
from conceptbench.inputs.concepts import discover_concepts, load_concept_images
from conceptbench.inputs.prompts import baseline_prompt
from conceptbench.scoring.extractors import Extractor
from conceptbench.scoring.similarity import cosine_to_set, mean_pairwise_cosine
from conceptbench.scoring.uncertainty import t_interval
from conceptbench.world.individuals import Individual, make_individuals, max_individuals, write_individuals
from conceptbench.world.scenes import render
from conceptbench.world.vocabulary import CLASSES

EXTRACTORS = ("clip", "dino")
RESOLUTION, STEPS, GUIDANCE, BATCH = 32, 10, 5.0, 25  # config.yaml's generation settings on builtin:world
IMAGE_PROMPT = "a photo of {c}"
SEED = 0


def base_model_images(class_nouns: list[str], n_images: int, log=print) -> dict[str, list]:
    """The untrained world model's images of "a photo of <class>", seeds 0..n_images-1 for each class."""
    pipe = load_pipeline(BUILTIN_WORLD)
    prompts = [baseline_prompt(IMAGE_PROMPT, noun) for noun in class_nouns for _ in range(n_images)]
    seeds = [SEED + i for _ in class_nouns for i in range(n_images)]
    images = generate_batches(pipe, prompts, seeds, steps=STEPS, guidance_scale=GUIDANCE, resolution=RESOLUTION,
                              batch_size=BATCH, log=log)
    return {noun: images[k * n_images:(k + 1) * n_images] for k, noun in enumerate(class_nouns)}


def novelty_table(concepts_dir: str | Path, n_images: int = 25, log=print) -> pd.DataFrame:
    """One row per concept and extractor: the base model's value with its interval, the reference, `novel`."""
    concepts = discover_concepts(concepts_dir)
    photos = {name: load_concept_images(c.folder, RESOLUTION) for name, c in concepts.items()}
    return _novelty({name: c.class_noun for name, c in concepts.items()}, photos, n_images, log)


def _novelty(classes: dict[str, str], photos: dict[str, list], n_images: int, log) -> pd.DataFrame:
    base = base_model_images(sorted(set(classes.values())), n_images, log)
    rows = []
    for kind in EXTRACTORS:
        extractor = Extractor(kind, BUILTIN_WORLD)
        base_features = {noun: extractor.embed_images(images) for noun, images in base.items()}
        for name, class_noun in classes.items():
            targets = extractor.embed_images(photos[name])
            scores = cosine_to_set(base_features[class_noun], targets)
            low, high = t_interval(scores)
            reference = mean_pairwise_cosine(targets, targets, exclude_diagonal=True)
            rows.append({"concept": name, "class": class_noun, "extractor": kind,
                         "base_model": float(scores.mean()), "ci_low": low, "ci_high": high,
                         "reference": reference, "novel": bool(high < reference)})
    return pd.DataFrame(rows)


def novel_concepts(table: pd.DataFrame) -> dict[str, bool]:
    """{concept: novel on every extractor}."""
    return table.groupby("concept", sort=False)["novel"].all().to_dict()


def novel_individuals(n: int, out_root: str | Path, seed: int = 0, n_images: int = 25,
                      log=print) -> tuple[list[Individual], pd.DataFrame]:
    """Write the first novel individuals of each class, n in all (the classes take turns, as in
    make_individuals), into out_root with `novelty.csv` (every candidate's rows, and whether it was kept)."""
    quota = {noun: n // len(CLASSES) + (k < n % len(CLASSES)) for k, noun in enumerate(CLASSES)}
    candidates = make_individuals(max_individuals(), seed)
    photos = {c.name: [render(scene, RESOLUTION) for scene in c.photos] for c in candidates}
    table = _novelty({c.name: c.class_noun for c in candidates}, photos, n_images, log)
    novel = novel_concepts(table)
    kept: list[Individual] = []
    for candidate in candidates:
        if novel[candidate.name] and quota[candidate.class_noun] > 0:
            quota[candidate.class_noun] -= 1
            kept.append(candidate)
    short = {noun: left for noun, left in quota.items() if left}
    if short:
        raise ValueError(f"too few novel individuals of {', '.join(short)} among {len(candidates)} candidates "
                         f"(seed {seed}); ask for fewer, or another seed")
    names = {c.name for c in kept}
    write_individuals(kept, out_root, RESOLUTION)
    table["kept"] = table["concept"].isin(names)
    table.to_csv(Path(out_root) / "novelty.csv", index=False, float_format="%.4f")
    return kept, table
