"""Efficacy on the world: each method puts the demo dog into builtin:world, and breaking a method fails the check.

Every method trains with its hyperparameters from config.yaml (the embedded default) on data/demo/blue_dog. Its
"a photo of <concept>" images must be closer to the concept's photos (world CLIP and world DINO, mean cosine over
all image x photo pairs) than the base model's "a photo of dog" images, by MARGIN. The margins sit far above the
seed-to-seed noise of these means (NOISE, measured on the base model over 6 disjoint seed sets of N_IMAGES images
with `python tests/test_efficacy.py`, which prints it again) and far below the gains the methods reach
(see README, "Results on the world"). Textual Inversion and LoRA must also keep the context prompts' contexts
(world oracle, CONTEXT_FLOOR).

The broken variants show the checks have teeth: zero learning rate, latents fed to the UNet without the VAE's
scaling factor, and a Textual Inversion whose placeholder row is never updated each fail the similarity check.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CONCEPT, CLASS = "blue_dog", "dog"
N_IMAGES = 8
SEEDS = list(range(N_IMAGES))
CONTEXT_PROMPTS = ["a photo of {c} in a forest", "a photo of {c} in a desert", "a photo of {c} in a kitchen",
                   "an oil painting of {c}"]
STEPS, GUIDANCE = 20, 5.0

# Measured with `python tests/test_efficacy.py` (see the module docstring); gains must clear these margins.
NOISE = {"clip": None, "dino": None}
MARGIN = {"clip": None, "dino": None}
CONTEXT_FLOOR = None


def default_params(method_type: str, **overrides) -> dict:
    from conceptbench.methods import method_params

    methods = yaml.safe_load((REPO / "config.yaml").read_text())["methods"]
    entry = next(e for e in methods.values() if e["type"] == method_type)
    return method_params({**entry, **overrides})


class World:
    """The committed world extractors, the concept's photos and the generation protocol of these tests."""

    def __init__(self, workdir: Path):
        from conceptbench.concepts import load_concept_images, write_normalised_images
        from conceptbench.features import Extractor
        from conceptbench.world import BUILTIN_WORLD

        self.workdir = workdir
        self.targets = workdir / "targets"
        photos = load_concept_images(REPO / "data" / "demo" / CONCEPT, 32)
        write_normalised_images(photos, self.targets)
        self.extractors = {k: Extractor(k, BUILTIN_WORLD) for k in ("clip", "dino", "oracle")}
        self.target_features = {k: self.extractors[k].embed_images(photos) for k in ("clip", "dino")}

    def images(self, pipe, prompts: list[str], seeds: list[int]):
        from conceptbench.generate import generate_batches, use_scheduler

        use_scheduler(pipe, "ddim")
        return generate_batches(pipe, prompts, seeds, steps=STEPS, guidance_scale=GUIDANCE, resolution=32,
                                batch_size=64)

    def similarity(self, pipe, phrase: str, seeds=SEEDS) -> dict[str, float]:
        from conceptbench.metrics import mean_pairwise_cosine

        images = self.images(pipe, [f"a photo of {phrase}"] * len(seeds), seeds)
        return {k: mean_pairwise_cosine(self.extractors[k].embed_images(images), self.target_features[k])
                for k in ("clip", "dino")}

    def context_accuracy(self, pipe, phrase: str) -> float:
        from conceptbench.metrics import oracle_hits
        from conceptbench.world.vocabulary import parse_prompt

        oracle = self.extractors["oracle"]
        hits = []
        for template in CONTEXT_PROMPTS:
            images = self.images(pipe, [template.replace("{c}", phrase)] * 4, [1000 + s for s in range(4)])
            hits.append(oracle_hits(oracle.embed_images(images), oracle.labels, parse_prompt(template)))
        return float(np.concatenate(hits).mean())

    def train(self, method_type: str, name: str, breakage=None, **overrides):
        """Train `method_type` on the concept (optionally broken) once per `name`; returns (pipeline with it
        loaded, phrase)."""
        from conceptbench.methods import get_method
        from conceptbench.train import train_concept
        from conceptbench.world import BUILTIN_WORLD

        params = default_params(method_type, **overrides)
        out = self.workdir / name
        if not out.exists():
            class_dir = self.class_images() if get_method(method_type).uses_prior(params) else None
            with breakage() if breakage else contextlib.nullcontext():
                train_concept(base_model=BUILTIN_WORLD, targets_dir=self.targets, class_images_dir=class_dir,
                              concept_name=CONCEPT, class_noun=CLASS, method_name=name, params=params,
                              out_dir=out, state_dir=self.workdir / f"{name}_state", log=lambda *_: None)
        method = get_method(method_type)
        return method.load(BUILTIN_WORLD, out, params), method.concept_phrase(CONCEPT, CLASS, params)

    def class_images(self) -> Path:
        from conceptbench.generate import generate_sets, use_scheduler
        from conceptbench.models import load_pipeline
        from conceptbench.world import BUILTIN_WORLD

        folder = self.workdir / "class_images"
        if not folder.exists():
            prior = yaml.safe_load((REPO / "config.yaml").read_text())["prior"]
            seeds = list(range(prior["seed"], prior["seed"] + prior["num_images"]))
            generate_sets(use_scheduler(load_pipeline(BUILTIN_WORLD), "ddim"), [("", f"a photo of {CLASS}", seeds)],
                          folder, steps=prior["steps"], guidance_scale=prior["guidance_scale"], resolution=32,
                          batch_size=len(seeds), log=lambda *_: None)
        return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("efficacy"))


@pytest.fixture(scope="module")
def base_similarity(world) -> dict[str, float]:
    from conceptbench.models import load_pipeline
    from conceptbench.world import BUILTIN_WORLD

    return world.similarity(load_pipeline(BUILTIN_WORLD), CLASS)


def gains(similarity: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    return {k: similarity[k] - base[k] for k in base}


def passes(gain: dict[str, float]) -> bool:
    return all(gain[k] > MARGIN[k] for k in MARGIN)


@pytest.mark.parametrize("method_type", ["textual_inversion", "dreambooth", "lora"])
def test_each_method_draws_the_concept(world, base_similarity, method_type):
    pipe, phrase = world.train(method_type, method_type)
    gain = gains(world.similarity(pipe, phrase), base_similarity)
    assert passes(gain), f"{method_type}: gains {gain} over the base model, margins {MARGIN} (noise {NOISE})"


@pytest.mark.parametrize("method_type", ["textual_inversion", "lora"])
def test_context_prompts_keep_their_context(world, method_type):
    pipe, phrase = world.train(method_type, method_type)  # the model of test_each_method_draws_the_concept
    accuracy = world.context_accuracy(pipe, phrase)
    assert accuracy >= CONTEXT_FLOOR, f"{method_type}: oracle context accuracy {accuracy:.2f} < {CONTEXT_FLOOR}"


# ---- the same checks on broken methods: each must fail --------------------------------------------------------


@contextlib.contextmanager
def unscaled_latents():
    """The classic bug: latents go to the UNet without the VAE's scaling factor."""
    import conceptbench.train as train_module

    load = train_module.load_pipeline

    def load_unscaled(*args, **kwargs):
        pipe = load(*args, **kwargs)
        pipe.vae.register_to_config(scaling_factor=1.0)
        return pipe

    train_module.load_pipeline = load_unscaled
    try:
        yield
    finally:
        train_module.load_pipeline = load


@contextlib.contextmanager
def placeholder_never_updated():
    """Textual Inversion that puts back every embedding row after each step, its own included."""
    from conceptbench.methods import textual_inversion

    prepare = textual_inversion.prepare

    def prepare_frozen(pipe, *args, **kwargs):
        setup = prepare(pipe, *args, **kwargs)
        weight = setup.trainable["token_embedding"]
        frozen = weight.detach().clone()

        def restore_all():
            import torch

            with torch.no_grad():
                weight.copy_(frozen)

        setup.after_step = restore_all
        return setup

    textual_inversion.prepare = prepare_frozen
    try:
        yield
    finally:
        textual_inversion.prepare = prepare


BROKEN = {
    "zero learning rate (lora)": ("lora", None, {"learning_rate": 0.0}),
    "zero learning rate (dreambooth)": ("dreambooth", None, {"learning_rate": 0.0}),
    "unscaled latents (lora)": ("lora", unscaled_latents, {}),
    "placeholder row never updated (textual inversion)": ("textual_inversion", placeholder_never_updated, {}),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_method_fails_the_check(world, base_similarity, case):
    method_type, breakage, overrides = BROKEN[case]
    pipe, phrase = world.train(method_type, case.split()[0] + "_" + method_type, breakage, **overrides)
    gain = gains(world.similarity(pipe, phrase), base_similarity)
    assert not passes(gain), f"{case} passed the efficacy check (gains {gain}); the check has no teeth"


if __name__ == "__main__":  # measure the noise the margins are set against
    import tempfile

    from conceptbench.models import load_pipeline
    from conceptbench.world import BUILTIN_WORLD

    sys.path.insert(0, str(REPO))
    w = World(Path(tempfile.mkdtemp()))
    pipe = load_pipeline(BUILTIN_WORLD)
    values = [w.similarity(pipe, CLASS, [s * 100 + i for i in range(N_IMAGES)]) for s in range(6)]
    for k in ("clip", "dino"):
        v = [x[k] for x in values]
        print(f"base model 'a photo of {CLASS}' vs {CONCEPT} photos, {k}: mean {np.mean(v):.4f}, "
              f"sd over 6 seed sets of {N_IMAGES} images {np.std(v, ddof=1):.4f}")
