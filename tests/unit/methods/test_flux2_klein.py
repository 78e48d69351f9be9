"""The FLUX.2 [klein] family on builtin:tiny-flux2-klein: detection, the conditioning, latents and transformer call in
training against Flux2KleinPipeline's own, LoRA (with and without class prior) trained, saved with its adapter
metadata, loaded into a fresh stock Flux2KleinPipeline with the documented call and changing its output, a killed
training resumed bitwise, the refusals, and a small config through Snakemake."""

import json

import numpy as np
import pytest
import torch
from family_helpers import (
    assert_refused_before_training,
    assert_text_encoder_lora_refused,
    assert_trainings_byte_identical_and_resumable,
    load_saved_lora,
    loop_config,
    train_lora,
    transformer_calls,
)

from conceptbench.diffusion.families import flux2_klein
from conceptbench.diffusion.families.base import Noised
from conceptbench.diffusion.pipelines import load_pipeline, pipeline_family
from conceptbench.methods import get_method

LORA = "pytorch_lora_weights.safetensors"
FAMILY = flux2_klein.FAMILY


def _train(tmp_path, model, targets, **overrides):
    return train_lora(tmp_path, model, targets, FAMILY, **overrides)


def _generate(pipe, prompt, seed=0):
    return pipe(prompt=prompt, num_inference_steps=2, height=32, width=32, guidance_scale=4.0,
                generator=torch.Generator().manual_seed(seed), output_type="np").images


def test_the_family_comes_from_the_model(tiny_klein_model):
    from diffusers import Flux2KleinPipeline

    assert pipeline_family(tiny_klein_model) == "flux2_klein"
    pipe = load_pipeline(tiny_klein_model)
    assert type(pipe) is Flux2KleinPipeline and not pipe.config.is_distilled
    assert len(pipe.text_encoder.model.layers) == 27  # the pipeline stacks the hidden states of layers 9, 18, 27


def test_training_gives_the_transformer_what_the_pipeline_gives_it(tiny_klein_model):
    """The same noisy latents at the same timestep: the training's transformer call (packing, 4-D image and text
    ids, the Qwen3 states of layers 9, 18 and 27, no guidance, timestep / 1000) equals Flux2KleinPipeline's, and
    the training's latents of an image equal the pipeline's own encoding of it, with zero tolerance."""
    from diffusers import Flux2KleinPipeline

    pipe = load_pipeline(tiny_klein_model)
    prompt = "a photo of sks dog"
    calls = transformer_calls(pipe)
    pipe(prompt=prompt, num_inference_steps=1, height=32, width=32, guidance_scale=1.0,
         generator=torch.Generator().manual_seed(0), output_type="latent")
    seen = calls.pop()

    with torch.no_grad():
        conditioning = FAMILY.encode_prompts(pipe, [prompt], "cpu")
        expected_embeds, expected_text_ids = pipe.encode_prompt(prompt, device="cpu")
    torch.testing.assert_close(conditioning["prompt_embeds"], expected_embeds, rtol=0, atol=0)
    assert expected_embeds.shape == (1, 512, 3 * 16)  # padded to 512, three layers' states side by side

    objective = FAMILY.objective(pipe, loop_config(FAMILY.settings), 32, 32, "cpu")
    assert objective.posterior_mode
    image_ids = seen["img_ids"]
    unpacked = Flux2KleinPipeline._unpack_latents_with_ids(seen["hidden_states"], image_ids)
    assert unpacked.shape == (1, 16, 8, 8)
    with torch.no_grad():
        objective.predict(pipe.transformer, Noised(unpacked, seen["timestep"] * 1000, target=None), conditioning,
                          pipe.transformer.dtype)
    ours = calls.pop()
    for key in ("hidden_states", "img_ids", "txt_ids", "encoder_hidden_states"):
        torch.testing.assert_close(ours[key], seen[key], rtol=0, atol=0, msg=key)
    assert ours["guidance"] is None and seen["guidance"] is None
    torch.testing.assert_close(ours["timestep"], seen["timestep"], rtol=0, atol=1e-7)  # (t * 1000) / 1000

    image = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        mode = pipe.vae.encode(image).latent_dist.mode()
        torch.testing.assert_close(objective.model_input(mode), pipe._encode_vae_image(image, None), rtol=0, atol=0)
        # The tiny VAE's batch-norm statistics are not the identity: a training that skipped them would differ.
        assert (objective.model_input(mode) - Flux2KleinPipeline._patchify_latents(mode)).abs().max() > 0.1


@pytest.mark.parametrize("prior", [False, True])
def test_lora_trains_on_klein_and_loads_into_a_fresh_stock_pipeline(tmp_path, tiny_klein_model, dog_targets, prior):
    from diffusers import Flux2KleinPipeline

    out, params = _train(tmp_path, tiny_klein_model, dog_targets, prior_preservation=prior, alpha=8)
    # diffusers' klein trainer's default targets
    targets = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.to_qkv_mlp_proj",
               "single_transformer_blocks.0.attn.to_out"]
    tuned = load_saved_lora(out, targets, Flux2KleinPipeline, tiny_klein_model)
    base = Flux2KleinPipeline.from_pretrained(tiny_klein_model, local_files_only=True)
    prompt = "a photo of sks dog"
    after = _generate(tuned, prompt)
    assert np.abs(after - _generate(base, prompt)).max() > 1e-4
    np.testing.assert_array_equal(after, _generate(get_method("lora").load(tiny_klein_model, out, params), prompt))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["hyperparameters"]["weighting_scheme"] == "none"
    assert meta["num_class_images"] == (len(list(dog_targets.iterdir())) if prior else 0)


def test_klein_trainings_are_byte_identical_and_a_killed_one_resumes_to_them(tmp_path, tiny_klein_model, dog_targets):
    assert_trainings_byte_identical_and_resumable(tmp_path, tiny_klein_model, dog_targets, FAMILY)


@pytest.mark.parametrize("method_type", ["textual_inversion", "pivotal_tuning", "dreambooth", "custom_diffusion"])
def test_a_method_that_does_not_apply_is_refused_before_training(tmp_path, tiny_klein_model, dog_targets,
                                                                 method_type):
    assert_refused_before_training(tmp_path, tiny_klein_model, dog_targets, FAMILY, method_type)


def test_a_text_encoder_lora_is_refused_at_start_up_and_before_training(tmp_path, tiny_klein_model, dog_targets):
    """Flux2KleinPipeline.load_lora_weights adapts the transformer only: a trained text-encoder LoRA would be lost."""
    assert_text_encoder_lora_refused(tmp_path, tiny_klein_model, dog_targets, FAMILY)


@pytest.mark.workflow
def test_a_small_klein_config_runs_end_to_end(tmp_path):
    """builtin:tiny-flux2-klein, built by the workflow: LoRA with a snapshot and DreamBooth-LoRA (class images made by
    Flux2KleinPipeline), generated with classifier-free guidance, embedded and scored as on SD."""
    import yaml
    from workflow_helpers import REPO, run_small_family_config

    lora = {**yaml.safe_load((REPO / "config" / "plumbing.yaml").read_text())["methods"]["lora"], "steps": 4,
            "checkpoint_every": 2}
    methods = {"lora": {**lora, "eval_steps": [2]}, "dreambooth_lora": {**lora, "prior_preservation": True}}
    run_small_family_config(tmp_path, "builtin:tiny-flux2-klein", methods, "Flux2KleinPipeline",
                            scheduler_left_out=True)
