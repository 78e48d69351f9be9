"""The Qwen-Image family on builtin:tiny-qwen-image: detection, the conditioning, latents and transformer call in
training against QwenImagePipeline's own, instance and class prompts joined as diffusers' trainer joins them,
generation with true classifier-free guidance, LoRA (with and without class prior) trained, saved with its adapter
metadata, loaded into a fresh stock QwenImagePipeline with the documented call and changing its output, two
trainings byte-identical and a killed one resumed to them, the refusals, and a small config through Snakemake."""

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

from conceptbench.diffusion.families import qwen_image
from conceptbench.diffusion.families.base import Noised
from conceptbench.diffusion.generation import generate_batches
from conceptbench.diffusion.pipelines import load_pipeline, pipeline_family
from conceptbench.diffusion.tiny import QWEN_LATENTS_MEAN, QWEN_LATENTS_STD
from conceptbench.methods import get_method

FAMILY = qwen_image.FAMILY


def _generate(pipe, prompt, seed=0):
    return pipe(prompt=prompt, negative_prompt=" ", true_cfg_scale=4.0, num_inference_steps=2, height=32, width=32,
                generator=torch.Generator().manual_seed(seed), output_type="np").images


def test_one_sampler_step_gives_a_nan_timestep_and_two_do_not(tiny_qwen_model):
    """Why start-up refuses 1 step on Qwen-Image (FAMILY.min_sampler_steps): the scheduler of builtin:tiny-qwen-image
    (Qwen-Image's own settings) stretches the schedule to end at shift_terminal, which divides 0 by 0 at one step."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(tiny_qwen_model, subfolder="scheduler")
    assert scheduler.config.shift_terminal
    with np.errstate(all="ignore"):
        scheduler.set_timesteps(1, mu=0.5)
    assert torch.isnan(scheduler.timesteps).all()
    scheduler.set_timesteps(FAMILY.min_sampler_steps, mu=0.5)
    assert torch.isfinite(scheduler.timesteps).all()


def test_the_family_comes_from_the_model(tiny_qwen_model):
    from diffusers import QwenImagePipeline

    assert pipeline_family(tiny_qwen_model) == "qwen_image"
    pipe = load_pipeline(tiny_qwen_model)
    assert type(pipe) is QwenImagePipeline and not pipe.transformer.config.guidance_embeds
    assert (pipe.vae.config.latents_mean, pipe.vae.config.latents_std) == (QWEN_LATENTS_MEAN, QWEN_LATENTS_STD)


def test_training_gives_the_transformer_what_the_pipeline_gives_it(tiny_qwen_model):
    """The same noisy latents at the same timestep: the training's transformer call (2x2 packing, img_shapes, the
    last Qwen2.5-VL states after the dropped template tokens, no guidance, timestep / 1000) equals
    QwenImagePipeline's, and the training's latents of an image are the VAE's, per-channel normalised as the
    pipeline undoes it, with zero tolerance."""
    from diffusers import QwenImagePipeline

    pipe = load_pipeline(tiny_qwen_model)
    prompt = "a photo of sks dog"
    calls = transformer_calls(pipe)
    # Two steps: at one, Qwen-Image's terminal-sigma stretch divides 0 by 0.
    pipe(prompt=prompt, num_inference_steps=2, height=32, width=32, true_cfg_scale=1.0,
         generator=torch.Generator().manual_seed(0), output_type="latent")
    seen = calls.pop(0)
    calls.clear()

    with torch.no_grad():
        conditioning = FAMILY.encode_prompts(pipe, [prompt], "cpu")
        expected_embeds, expected_mask = pipe.encode_prompt(prompt, device="cpu")
    torch.testing.assert_close(conditioning["prompt_embeds"], expected_embeds, rtol=0, atol=0)
    assert conditioning["prompt_embeds_mask"] is None and expected_mask is None  # one prompt: nothing padded

    objective = FAMILY.objective(pipe, loop_config(FAMILY.settings), 32, 32, "cpu")
    assert not objective.posterior_mode
    # The pipeline's packed (1, 16 tokens, 16) latents back to the VAE's 5-D (B, C, frames, H, W).
    unpacked = QwenImagePipeline._unpack_latents(seen["hidden_states"], 32, 32, pipe.vae_scale_factor)
    assert unpacked.shape == (1, 4, 1, 8, 8)
    with torch.no_grad():
        pred = objective.predict(pipe.transformer, Noised(unpacked, seen["timestep"] * 1000, target=None),
                                 conditioning, pipe.transformer.dtype)
    ours = calls.pop()
    for key in ("hidden_states", "encoder_hidden_states"):
        torch.testing.assert_close(ours[key], seen[key], rtol=0, atol=0, msg=key)
    assert ours["img_shapes"] == seen["img_shapes"] == [[(1, 4, 4)]]  # (frames, h/2, w/2) per sample
    assert ours["encoder_hidden_states_mask"] is None and seen["encoder_hidden_states_mask"] is None
    assert "guidance" not in ours and seen["guidance"] is None
    torch.testing.assert_close(ours["timestep"], seen["timestep"], rtol=0, atol=1e-7)  # (t * 1000) / 1000
    with torch.no_grad():  # and so the same prediction (up to the timestep's rounding), in the latents' shape
        expected = pipe.transformer(**{**seen, "return_dict": False})[0]
    torch.testing.assert_close(pred, QwenImagePipeline._unpack_latents(expected, 32, 32, pipe.vae_scale_factor),
                               rtol=1e-5, atol=1e-6)

    image = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        latents = pipe.vae.encode(FAMILY.vae_input(image)).latent_dist.mean
        x0 = objective.model_input(latents)
        # The pipeline's decoding undoes exactly this normalisation (pipeline_qwenimage: latents / (1 / std) + mean).
        mean = torch.tensor(QWEN_LATENTS_MEAN).view(1, 4, 1, 1, 1)
        std = torch.tensor(QWEN_LATENTS_STD).view(1, 4, 1, 1, 1)
        torch.testing.assert_close(x0 / (1.0 / std) + mean, latents, rtol=1e-6, atol=1e-6)
        assert (x0 - latents).abs().max() > 0.1  # a training that skipped it would train on other latents


def test_instance_and_class_prompts_are_joined_as_diffusers_trainer_joins_them(tiny_qwen_model):
    """Prompts of different lengths encoded apart: padded with zeros to the longer, the mask marking the padding;
    the transformer then predicts for each sample what it predicts for that prompt alone."""
    pipe = load_pipeline(tiny_qwen_model)
    with torch.no_grad():
        short = FAMILY.encode_prompts(pipe, ["a photo of sks dog"], "cpu")
        long = FAMILY.encode_prompts(pipe, ["a photo of dog in a forest at dawn"], "cpu")
        joined = FAMILY.batch_conditioning([short, long], 2)
    length = long["prompt_embeds"].shape[1]
    assert short["prompt_embeds"].shape[1] < length and joined["prompt_embeds"].shape == (4, length, 16)
    valid = short["prompt_embeds"].shape[1]
    assert joined["prompt_embeds_mask"].tolist() == [[1] * valid + [0] * (length - valid)] * 2 + [[1] * length] * 2
    torch.testing.assert_close(joined["prompt_embeds"][0, :valid], short["prompt_embeds"][0], rtol=0, atol=0)
    assert joined["prompt_embeds"][0, valid:].abs().max() == 0
    torch.testing.assert_close(joined["prompt_embeds"][3], long["prompt_embeds"][0], rtol=0, atol=0)
    # Without padding the mask is dropped, as the pipeline drops it.
    assert FAMILY.batch_conditioning([short, short], 2)["prompt_embeds_mask"] is None

    objective = FAMILY.objective(pipe, loop_config(FAMILY.settings), 32, 32, "cpu")
    noisy = torch.randn(4, 4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    timesteps = torch.full((4,), 500.0)
    with torch.no_grad():
        dtype = pipe.transformer.dtype
        together = objective.predict(pipe.transformer, Noised(noisy, timesteps, None), joined, dtype)
        alone = objective.predict(pipe.transformer, Noised(noisy[:1], timesteps[:1], None), short, dtype)
    torch.testing.assert_close(together[:1], alone, rtol=1e-5, atol=1e-6)


def test_generation_uses_true_cfg_with_a_negative_prompt(tiny_qwen_model):
    """generation.guidance_scale is Qwen-Image's true_cfg_scale, with the model card's negative prompt " ": the
    images are the pipeline's at those arguments, and differ from unguided ones."""
    pipe = load_pipeline(tiny_qwen_model)
    ours = generate_batches(pipe, ["a photo of sks dog"], [0], steps=2, guidance_scale=4.0, resolution=32,
                            batch_size=1, output_type="np")
    np.testing.assert_array_equal(np.stack(ours), _generate(pipe, "a photo of sks dog"))
    unguided = generate_batches(pipe, ["a photo of sks dog"], [0], steps=2, guidance_scale=1.0, resolution=32,
                                batch_size=1, output_type="np")
    assert np.abs(np.stack(ours) - np.stack(unguided)).max() > 1e-4


@pytest.mark.parametrize("prior", [False, True])
def test_lora_trains_on_qwen_image_and_loads_into_a_fresh_stock_pipeline(tmp_path, tiny_qwen_model, dog_targets,
                                                                         prior):
    from diffusers import QwenImagePipeline

    out, params = train_lora(tmp_path, tiny_qwen_model, dog_targets, FAMILY, prior_preservation=prior, alpha=8)
    tuned = load_saved_lora(out, qwen_image.LORA_TARGETS, QwenImagePipeline, tiny_qwen_model)
    base = QwenImagePipeline.from_pretrained(tiny_qwen_model, local_files_only=True)
    prompt = "a photo of sks dog"
    after = _generate(tuned, prompt)
    assert np.abs(after - _generate(base, prompt)).max() > 1e-4
    np.testing.assert_array_equal(after, _generate(get_method("lora").load(tiny_qwen_model, out, params), prompt))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["hyperparameters"]["target_modules"] == qwen_image.LORA_TARGETS
    assert meta["num_class_images"] == (len(list(dog_targets.iterdir())) if prior else 0)


def test_qwen_image_trainings_are_byte_identical_and_a_killed_one_resumes_to_them(tmp_path, tiny_qwen_model,
                                                                                  dog_targets):
    assert_trainings_byte_identical_and_resumable(tmp_path, tiny_qwen_model, dog_targets, FAMILY)


@pytest.mark.parametrize("method_type", ["textual_inversion", "pivotal_tuning", "dreambooth", "custom_diffusion"])
def test_a_method_that_does_not_apply_is_refused_before_training(tmp_path, tiny_qwen_model, dog_targets,
                                                                 method_type):
    assert_refused_before_training(tmp_path, tiny_qwen_model, dog_targets, FAMILY, method_type)


def test_a_text_encoder_lora_is_refused_at_start_up_and_before_training(tmp_path, tiny_qwen_model, dog_targets):
    """QwenImagePipeline.load_lora_weights adapts the transformer only: a trained text-encoder LoRA would be lost."""
    assert_text_encoder_lora_refused(tmp_path, tiny_qwen_model, dog_targets, FAMILY)


@pytest.mark.workflow
def test_a_small_qwen_image_config_runs_end_to_end(tmp_path):
    """builtin:tiny-qwen-image, built by the workflow: LoRA with a snapshot and DreamBooth-LoRA (class images made
    by QwenImagePipeline), generated with true classifier-free guidance, embedded and scored as on SD."""
    import yaml
    from workflow_helpers import REPO, run_small_family_config

    lora = {**yaml.safe_load((REPO / "config" / "plumbing.yaml").read_text())["methods"]["lora"], "steps": 4,
            "checkpoint_every": 2}
    methods = {"lora": {**lora, "eval_steps": [2]}, "dreambooth_lora": {**lora, "prior_preservation": True}}
    run_small_family_config(tmp_path, "builtin:tiny-qwen-image", methods, "QwenImagePipeline",
                            scheduler_left_out=True)
