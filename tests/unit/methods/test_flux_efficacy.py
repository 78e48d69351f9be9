"""Teeth for flow matching: on builtin:tiny-flux, a LoRA overfit on one photo draws images much closer to it than
the untrained model does, and deliberately broken objectives fail the same check.

The tiny model's VAE is random, so no model can draw the photo itself; the best it can draw is the photo's VAE
reconstruction (decode of its posterior mean), and that is the target: pixel MSE of "a photo of sks dog" images
(N_IMAGES seeds, 8 Euler steps, the pipeline's own sampling) to it. The check: the trained model's mean MSE is at
most RATIO x the untrained model's. Measured on 2 CPU cores (diffusers 0.42.1, torch 2.14, 2500 steps): untrained
0.0488 (seed-to-seed sd 0.0023, so +-0.0008 on the mean of 8), trained 0.0135 (ratio 0.28); broken: target sign
flipped 0.056 (1.15), the transformer given t instead of t / 1000 0.0206 (0.42), latents not normalised with the
VAE's shift and scale 0.0204 (0.42). RATIO 0.35 sits about 4 standard errors of the ratio from the trained run and
from the closest broken one.

The LoRA adapts more than diffusers' default FLUX targets (flux1.LORA_TARGETS): with attention and feed-forward only,
the tiny random transformer's frozen AdaLN modulations leave it almost no way to use the timestep, and a wrong
timestep scale trains as well as the right one. OVERFIT_TARGETS adds the modulations, the time embedding, the single
blocks' MLP and the patch embedding, all of which FluxPipeline.load_lora_weights reloads as trained. (Not proj_out
or norm_out.linear: diffusers 0.42.1 reloads those differently from how they trained, output off by 0.55.)
About 2 x 1 minute per training at nice 19 beside other work; 4 trainings.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from conceptbench.diffusion.families import flow_matching, flux1
from conceptbench.methods import get_method, method_params
from conceptbench.methods.job import train_concept

N_IMAGES, SAMPLING_STEPS, GUIDANCE = 8, 8, 3.5
RATIO = 0.35
OVERFIT_TARGETS = [*flux1.LORA_TARGETS, "proj_mlp", "x_embedder", "norm1.linear", "norm1_context.linear",
                   "norm.linear", "timestep_embedder.linear_1", "timestep_embedder.linear_2"]
PARAMS = dict(type="lora", steps=2500, learning_rate=3e-3, rank=32, alpha=32, checkpoint_every=0,
              target_modules=OVERFIT_TARGETS)
PROMPT = "a photo of sks dog"

BROKEN = {
    "target sign flipped": (flow_matching.FlowMatching, "target", lambda self, x0, noise: x0 - noise),
    "timestep not divided by 1000": (flux1.FluxObjective, "transformer_timestep", lambda self, t: t),
    "latents not normalised": (flux1.FluxObjective, "model_input", lambda self, latents: latents),
}


@pytest.fixture(scope="module")
def photo(tmp_path_factory, dog_targets):
    folder = tmp_path_factory.mktemp("one_photo")
    shutil.copy(sorted(dog_targets.iterdir())[0], folder / "000.png")
    return folder


@pytest.fixture(scope="module")
def reconstruction(tiny_flux_model, photo):
    """The photo through the tiny VAE (encode, posterior mean, decode), in [0, 1] like the pipeline's images."""
    from PIL import Image

    from conceptbench.diffusion.pipelines import load_pipeline
    from conceptbench.methods.training import images_to_tensor

    vae = load_pipeline(tiny_flux_model).vae
    with torch.no_grad():
        decoded = vae.decode(vae.encode(images_to_tensor([Image.open(photo / "000.png")])).latent_dist.mean).sample
    return (decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()[0]


def _mse(pipe, reconstruction) -> float:
    errors = []
    for seed in range(N_IMAGES):
        image = pipe(PROMPT, num_inference_steps=SAMPLING_STEPS, height=32, width=32, guidance_scale=GUIDANCE,
                     generator=torch.Generator().manual_seed(100 + seed), output_type="np").images[0]
        errors.append(float(((image - reconstruction) ** 2).mean()))
    return float(np.mean(errors))


@pytest.fixture(scope="module")
def untrained(tiny_flux_model, reconstruction) -> float:
    from conceptbench.diffusion.pipelines import load_pipeline

    return _mse(load_pipeline(tiny_flux_model), reconstruction)


def _trained_mse(tmp_path, tiny_flux_model, photo, reconstruction) -> float:
    params = method_params(PARAMS, flux1.FAMILY)
    out = tmp_path / "lora"
    train_concept(base_model=tiny_flux_model, targets_dir=photo, class_images_dir=None, concept_name="blue_dog",
                  class_noun="dog", method_name="lora", params=params, out_dir=out, state_dir=tmp_path / "state",
                  log=lambda *_: None)
    # Loaded by the stock call into a fresh FluxPipeline, as every artifact is.
    return _mse(get_method("lora").load(tiny_flux_model, out, params), reconstruction)


def test_an_overfit_lora_draws_the_photo(tmp_path, tiny_flux_model, photo, reconstruction, untrained):
    trained = _trained_mse(tmp_path, tiny_flux_model, photo, reconstruction)
    assert trained <= RATIO * untrained, (trained, untrained)


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_objective_fails_the_check(tmp_path, monkeypatch, tiny_flux_model, photo, reconstruction, untrained,
                                            case):
    owner, name, broken = BROKEN[case]
    monkeypatch.setattr(owner, name, broken)
    trained = _trained_mse(tmp_path, tiny_flux_model, photo, reconstruction)
    assert trained > RATIO * untrained, (case, trained, untrained)
