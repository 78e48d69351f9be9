"""Efficacy on the world: each method puts the demo dog into builtin:world, and breaking a method fails the check.

Every method trains with its hyperparameters from config.yaml (the embedded default) on data/demo/blue_dog. Its
"a photo of <concept>" images must be closer to the concept's photos (world CLIP and world DINO, mean cosine over
all image x photo pairs, N_IMAGES images) than the untrained model's, by MARGIN. The untrained model is asked both
for "a photo of dog" and for the method's own phrase ("a photo of sks dog": the rare token alone moves the images,
DINO +0.42) and the better of the two counts; Textual Inversion's placeholder starts as the class noun, so its
untrained phrase is "dog". The margins are 2.5x the seed-to-seed noise of a gain (NOISE: the sd of the base model's
mean over 6 disjoint seed sets of N_IMAGES images, times sqrt(2) for a difference of two means; measured with
`PYTHONPATH=tests python tests/unit/methods/test_efficacy.py`, which prints it again). Textual Inversion and LoRA
must also keep the context prompts' contexts (world oracle, CONTEXT_FLOOR; chance is 1/7).

The broken variants show the checks have teeth: zero learning rate, a wrong training target (v-prediction for an
epsilon model), and a Textual Inversion whose placeholder row is never updated each fail the similarity check.
Latents fed to the UNet without the VAE's scaling factor are not caught here: the world VAE's factor is 0.71, and
LoRA learns the concept through the 1.4x larger latents about as well (gains within noise of the correct run).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_helpers import REPO

CONCEPT, CLASS = "blue_dog", "dog"
N_IMAGES = 32
SEEDS = list(range(N_IMAGES))
CONTEXT_PROMPTS = ["a photo of {c} in a forest", "a photo of {c} in a desert", "a photo of {c} in a kitchen",
                   "an oil painting of {c}"]
GENERATION = yaml.safe_load((REPO / "config.yaml").read_text())["generation"]  # the default run's sampling
STEPS, GUIDANCE = GENERATION["steps"], GENERATION["guidance_scale"]

# Measured with `PYTHONPATH=tests python tests/unit/methods/test_efficacy.py` (see the module docstring); gains must
# clear these margins.
NOISE = {"clip": 0.018, "dino": 0.045}  # sd of a gain: (0.0124, 0.0315 per mean of 32 images) x sqrt(2)
MARGIN = {"clip": 0.05, "dino": 0.11}  # about 2.5-3 x NOISE
CONTEXT_FLOOR = 0.5


def default_params(method_type: str, **overrides) -> dict:
    from conceptbench.methods import method_params

    methods = yaml.safe_load((REPO / "config.yaml").read_text())["methods"]
    entry = next(e for e in methods.values() if e["type"] == method_type)
    return method_params({**entry, "eval_steps": [], **overrides})  # the final artifact only: no snapshots


class World:
    """The committed world extractors, the concept's photos and the generation protocol of these tests."""

    def __init__(self, workdir: Path):
        from conceptbench.diffusion.sources import BUILTIN_WORLD
        from conceptbench.inputs.concepts import load_concept_images, write_normalised_images
        from conceptbench.scoring.extractors import Extractor

        self.workdir = workdir
        self.targets = workdir / "targets"
        photos = load_concept_images(REPO / "data" / "demo" / CONCEPT, 32)
        write_normalised_images(photos, self.targets)
        self.extractors = {k: Extractor(k, BUILTIN_WORLD) for k in ("clip", "dino", "oracle")}
        self.target_features = {k: self.extractors[k].embed_images(photos) for k in ("clip", "dino")}

    def images(self, pipe, prompts: list[str], seeds: list[int]):
        from conceptbench.diffusion.generation import generate_batches
        from conceptbench.diffusion.schedulers import use_scheduler

        use_scheduler(pipe, "ddim")
        return generate_batches(pipe, prompts, seeds, steps=STEPS, guidance_scale=GUIDANCE, resolution=32,
                                batch_size=64)

    def similarity(self, pipe, phrase: str, seeds=SEEDS) -> dict[str, float]:
        from conceptbench.scoring.similarity import mean_pairwise_cosine

        images = self.images(pipe, [f"a photo of {phrase}"] * len(seeds), seeds)
        return {k: mean_pairwise_cosine(self.extractors[k].embed_images(images), self.target_features[k])
                for k in ("clip", "dino")}

    def context_accuracy(self, pipe, phrase: str) -> float:
        from conceptbench.scoring.oracle import oracle_hits
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
        from conceptbench.diffusion.sources import BUILTIN_WORLD
        from conceptbench.methods import get_method
        from conceptbench.methods.job import train_concept

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
        from conceptbench.diffusion.generation import generate_sets
        from conceptbench.diffusion.pipelines import load_pipeline
        from conceptbench.diffusion.schedulers import use_scheduler
        from conceptbench.diffusion.sources import BUILTIN_WORLD

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
def untrained(world):
    """The untrained model's similarity for a method's phrase: the better of the class noun and the phrase."""
    from conceptbench.diffusion.pipelines import load_pipeline
    from conceptbench.diffusion.sources import BUILTIN_WORLD

    pipe, cache = load_pipeline(BUILTIN_WORLD), {}

    def similarity(method_type: str, phrase: str) -> dict[str, float]:
        phrases = [CLASS] if method_type == "textual_inversion" else [CLASS, phrase]
        for p in phrases:
            if p not in cache:
                cache[p] = world.similarity(pipe, p)
        return {k: max(cache[p][k] for p in phrases) for k in ("clip", "dino")}

    return similarity


def gains(similarity: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    return {k: similarity[k] - base[k] for k in base}


def passes(gain: dict[str, float]) -> bool:
    return all(gain[k] > MARGIN[k] for k in MARGIN)


@pytest.mark.parametrize("method_type", ["textual_inversion", "dreambooth", "lora"])
def test_each_method_draws_the_concept(world, untrained, method_type):
    pipe, phrase = world.train(method_type, method_type)
    gain = gains(world.similarity(pipe, phrase), untrained(method_type, phrase))
    assert passes(gain), f"{method_type}: gains {gain} over the base model, margins {MARGIN} (noise {NOISE})"


@pytest.mark.parametrize("method_type", ["textual_inversion", "lora"])
def test_context_prompts_keep_their_context(world, method_type):
    pipe, phrase = world.train(method_type, method_type)  # the model of test_each_method_draws_the_concept
    accuracy = world.context_accuracy(pipe, phrase)
    assert accuracy >= CONTEXT_FLOOR, f"{method_type}: oracle context accuracy {accuracy:.2f} < {CONTEXT_FLOOR}"


# ---- the same checks on broken methods: each must fail --------------------------------------------------------


@contextlib.contextmanager
def wrong_target():
    """The training scheduler claims v-prediction, so an epsilon model is trained towards the velocity."""
    import diffusers

    original = diffusers.DDPMScheduler

    class VelocityTarget(original):
        @classmethod
        def from_config(cls, config, **kwargs):
            scheduler = original.from_config(config, **kwargs)
            scheduler.register_to_config(prediction_type="v_prediction")
            return scheduler

    diffusers.DDPMScheduler = VelocityTarget
    try:
        yield
    finally:
        diffusers.DDPMScheduler = original


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


# With learning rate 0, AdamW leaves every weight exactly as it was (the decay factor is 1 - 0 * wd), so the model,
# and its images, are the same after 2 steps as after the recipe's 100-300: 2 steps spare a minute of test time.
ZERO_LR = {"learning_rate": 0.0, "steps": 2, "checkpoint_every": 0}
BROKEN = {
    "zero learning rate (lora)": ("lora", None, ZERO_LR),
    "zero learning rate (dreambooth)": ("dreambooth", None, ZERO_LR),
    "wrong target (lora)": ("lora", wrong_target, {}),
    "placeholder row never updated (textual inversion)": ("textual_inversion", placeholder_never_updated, {}),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_method_fails_the_check(world, untrained, case):
    method_type, breakage, overrides = BROKEN[case]
    pipe, phrase = world.train(method_type, case.split()[0] + "_" + method_type, breakage, **overrides)
    gain = gains(world.similarity(pipe, phrase), untrained(method_type, phrase))
    assert not passes(gain), f"{case} passed the efficacy check (gains {gain}); the check has no teeth"


if __name__ == "__main__":  # measure the noise the margins are set against
    import tempfile

    from conceptbench.diffusion.pipelines import load_pipeline
    from conceptbench.diffusion.sources import BUILTIN_WORLD

    sys.path.insert(0, str(REPO))
    w = World(Path(tempfile.mkdtemp()))
    pipe = load_pipeline(BUILTIN_WORLD)
    values = [w.similarity(pipe, CLASS, [s * 100 + i for i in range(N_IMAGES)]) for s in range(6)]
    for k in ("clip", "dino"):
        v = [x[k] for x in values]
        print(f"base model 'a photo of {CLASS}' vs {CONCEPT} photos, {k}: mean {np.mean(v):.4f}, "
              f"sd over 6 seed sets of {N_IMAGES} images {np.std(v, ddof=1):.4f}")
