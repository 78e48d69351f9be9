"""The FLUX.1 family on builtin:tiny-flux: detection, the conditioning and latents the transformer gets in training
against what FluxPipeline gives it, flow matching's timestep sampling and target, LoRA (with and without class
prior) trained, saved with its adapter metadata, loaded into a fresh stock FluxPipeline with the documented call,
output changed; Textual Inversion and pivotal tuning with a token in CLIP-L and T5, loaded with the stock calls; a
killed training resumed bitwise, two trainings byte-identical, and the refusals."""

import json
from functools import partial

import numpy as np
import pytest
import torch
from family_helpers import (
    assert_refused_before_training,
    assert_trainings_byte_identical_and_resumable,
    load_saved_lora,
    loop_config,
    lora_params,
    train_lora,
    transformer_calls,
)
from safetensors.torch import load_file

from conceptbench.diffusion.families import flux1
from conceptbench.diffusion.families.base import Noised
from conceptbench.diffusion.pipelines import load_pipeline, pipeline_family
from conceptbench.methods import method_params
from conceptbench.methods.job import train_concept

LORA = "pytorch_lora_weights.safetensors"
_params = partial(lora_params, flux1.FAMILY)


def _train(tmp_path, model, targets, **overrides):
    return train_lora(tmp_path, model, targets, flux1.FAMILY, **overrides)


def _generate(pipe, prompt, seed=0):
    return pipe(prompt, num_inference_steps=2, height=32, width=32, guidance_scale=3.5,
                generator=torch.Generator().manual_seed(seed), output_type="np").images


def test_the_family_comes_from_the_model(tiny_flux_model):
    from diffusers import FluxPipeline

    assert pipeline_family(tiny_flux_model) == "flux1"
    assert type(load_pipeline(tiny_flux_model)) is FluxPipeline


def test_training_gives_the_transformer_what_the_pipeline_gives_it(tiny_flux_model):
    """The same noisy latents at the same timestep: the training's transformer call (packing, image and text ids,
    T5 states, CLIP's pooled embedding, guidance, timestep / 1000) equals FluxPipeline's, with zero tolerance."""
    from diffusers import FluxPipeline

    pipe = load_pipeline(tiny_flux_model)
    prompt = "a photo of sks dog"
    calls = transformer_calls(pipe)
    pipe(prompt, num_inference_steps=1, height=32, width=32, guidance_scale=3.5,
         generator=torch.Generator().manual_seed(0), output_type="latent")
    seen = calls.pop()

    family = flux1.FAMILY
    with torch.no_grad():  # as the loop encodes fixed prompts (T5's attention computes otherwise with gradients)
        conditioning = family.encode_prompts(pipe, [prompt], "cpu")
        expected_embeds, expected_pooled, expected_text_ids = pipe.encode_prompt(prompt, device="cpu")
    torch.testing.assert_close(conditioning["prompt_embeds"], expected_embeds, rtol=0, atol=0)
    torch.testing.assert_close(conditioning["pooled"], expected_pooled, rtol=0, atol=0)
    assert expected_embeds.shape == (1, 512, 32)  # T5 padded to FluxPipeline's max_sequence_length

    objective = family.objective(pipe, loop_config({**family.settings, "guidance_scale": 3.5}), 32, 32, "cpu")
    unpacked = FluxPipeline._unpack_latents(seen["hidden_states"], 32, 32, pipe.vae_scale_factor)
    assert unpacked.shape == (1, 4, 16, 16)
    noised = Noised(unpacked, seen["timestep"] * 1000, target=None)
    with torch.no_grad():
        objective.predict(pipe.transformer, noised, conditioning, pipe.transformer.dtype)
    ours = calls.pop()
    for key in ("hidden_states", "img_ids", "txt_ids", "encoder_hidden_states", "pooled_projections", "guidance"):
        torch.testing.assert_close(ours[key], seen[key], rtol=0, atol=0, msg=key)
    torch.testing.assert_close(ours["timestep"], seen["timestep"], rtol=0, atol=1e-7)  # (t * 1000) / 1000
    torch.testing.assert_close(expected_text_ids, ours["txt_ids"], rtol=0, atol=0)


def test_latents_are_normalised_with_the_vae_factors_the_pipeline_undoes(tiny_flux_model):
    pipe = load_pipeline(tiny_flux_model)
    config = pipe.vae.config
    assert (config.scaling_factor, config.shift_factor) == (0.3611, 0.1159)  # FLUX.1-dev's, not the identity
    objective = flux1.FAMILY.objective(pipe, loop_config(flux1.FAMILY.settings), 32, 32, "cpu")
    z = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(objective.model_input(z), (z - 0.1159) * 0.3611, rtol=0, atol=0)
    # FluxPipeline decodes latents / scaling_factor + shift_factor: the inverse.
    torch.testing.assert_close(objective.model_input(z) / config.scaling_factor + config.shift_factor, z)


@pytest.mark.parametrize("scheme", ["none", "logit_normal", "mode", "cosmap", "sigma_sqrt"])
@pytest.mark.parametrize("dynamic", [True, False])
def test_flow_matching_draws_and_targets_as_diffusers_trainer(tiny_flux_model, scheme, dynamic):
    """train_dreambooth_lora_flux.py's recipe, written out: noise, then u from the weighting scheme's density, the
    fresh scheduler's timestep and sigma at u * 1000 (shifted where the scheduler shifts statically), x_t = (1 - s)
    x0 + s e, target e - x0, the scheme's loss weights."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.training_utils import compute_density_for_timestep_sampling, compute_loss_weighting_for_sd3

    pipe = load_pipeline(tiny_flux_model)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, shift=3.0,
                                                                 use_dynamic_shifting=dynamic)
    _generate(pipe, "a dog")  # leaves the inference timesteps in pipe.scheduler: training must not use them
    settings = {**flux1.FAMILY.settings, "weighting_scheme": scheme, "logit_mean": 0.2, "mode_scale": 1.1}
    objective = flux1.FAMILY.objective(pipe, loop_config(settings), 32, 32, "cpu")
    x0 = torch.randn(8, 4, 16, 16)
    noised = objective.noise(x0, torch.Generator().manual_seed(3), "cpu")

    generator = torch.Generator().manual_seed(3)
    noise = torch.randn(x0.shape, generator=generator)
    u = compute_density_for_timestep_sampling(scheme, 8, logit_mean=0.2, logit_std=1.0, mode_scale=1.1,
                                              generator=generator)
    fresh = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
    indices = (u * 1000).long()
    sigmas = fresh.sigmas[indices].view(-1, 1, 1, 1)
    if not dynamic:  # the static shift: sigma' = 3 s / (1 + 2 s) of the unshifted s = t / 1000
        unshifted = (1000 - indices.float()) / 1000
        torch.testing.assert_close(sigmas.flatten(), 3 * unshifted / (1 + 2 * unshifted))
    torch.testing.assert_close(noised.timesteps, fresh.timesteps[indices], rtol=0, atol=0)
    torch.testing.assert_close(noised.noisy, (1 - sigmas) * x0 + sigmas * noise, rtol=0, atol=0)
    torch.testing.assert_close(noised.target, noise - x0, rtol=0, atol=0)
    torch.testing.assert_close(noised.weighting, compute_loss_weighting_for_sd3(scheme, sigmas), rtol=0, atol=0)


@pytest.mark.parametrize("prior", [False, True])
def test_lora_trains_on_flux_and_loads_into_a_fresh_stock_pipeline(tmp_path, tiny_flux_model, dog_targets, prior):
    from diffusers import FluxPipeline

    # alpha 8 on rank 4: the file's adapter metadata must carry it, or load_lora_weights would scale by 1, not 2.
    out, params = _train(tmp_path, tiny_flux_model, dog_targets, prior_preservation=prior, alpha=8)
    # diffusers' FLUX trainer's default targets, every one of them
    tuned = load_saved_lora(out, flux1.LORA_TARGETS, FluxPipeline, tiny_flux_model)
    base = FluxPipeline.from_pretrained(tiny_flux_model, local_files_only=True)
    prompt = "a photo of sks dog"
    after = _generate(tuned, prompt)
    assert np.abs(after - _generate(base, prompt)).max() > 1e-4
    np.testing.assert_array_equal(after, _generate(lora_load(tiny_flux_model, out, params), prompt))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["hyperparameters"]["weighting_scheme"] == "none" and meta["hyperparameters"]["guidance_scale"] == 3.5
    assert meta["num_class_images"] == (len(list(dog_targets.iterdir())) if prior else 0)


def lora_load(model, out, params):
    from conceptbench.methods import get_method

    return get_method("lora").load(model, out, params)


def test_lora_trains_flux_clip_text_encoder_too(tmp_path, tiny_flux_model, dog_targets):
    """FluxPipeline.load_lora_weights adapts the transformer and CLIP (not T5): train_text_encoder trains CLIP."""
    out, _ = _train(tmp_path, tiny_flux_model, dog_targets, train_text_encoder=True, steps=3)
    prefixes = {key.split(".")[0] for key in load_file(str(out / LORA))}
    assert prefixes == {"transformer", "text_encoder"}
    pipe = load_pipeline(tiny_flux_model)
    pipe.load_lora_weights(str(out), weight_name=LORA)
    base = load_pipeline(tiny_flux_model)
    # CLIP's pooled embedding changed: the text encoder's LoRA is loaded and applied.
    assert (pipe.encode_prompt("a photo of sks dog", device="cpu")[1]
            - base.encode_prompt("a photo of sks dog", device="cpu")[1]).abs().max() > 1e-6


# ---- Textual Inversion and pivotal tuning: a token in CLIP-L and T5 ---------------------------------------------


def _load_token_as_documented(pipe, out):
    """The calls of diffusers' advanced FLUX trainer's README: one load_textual_inversion per encoder."""
    from safetensors import safe_open

    path = out / "learned_embeds.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        token = handle.metadata()["token"]
    embeddings = load_file(str(path))
    assert sorted(embeddings) == ["clip_l", "t5"] and token == "<blue_dog>"
    assert embeddings["clip_l"].shape == (1, 32) and embeddings["t5"].shape == (1, 32)
    pipe.load_textual_inversion(embeddings["clip_l"], token=token, text_encoder=pipe.text_encoder,
                                tokenizer=pipe.tokenizer)
    pipe.load_textual_inversion(embeddings["t5"], token=token, text_encoder=pipe.text_encoder_2,
                                tokenizer=pipe.tokenizer_2)
    return pipe


def _train_method(tmp_path, model, targets, method_type, **settings):
    params = method_params({"type": method_type, "steps": 6, "learning_rate": 5e-2, "checkpoint_every": 3,
                            **settings}, flux1.FAMILY)
    out = tmp_path / "ckpt"
    train_concept(base_model=model, targets_dir=targets, class_images_dir=None, concept_name="blue_dog",
                  class_noun="dog", method_name=method_type, params=params, out_dir=out, state_dir=tmp_path / "state",
                  log=lambda *_: None)
    return out, params


def test_textual_inversion_learns_a_token_in_clip_and_t5_and_loads_with_the_stock_calls(tmp_path, tiny_flux_model,
                                                                                          dog_targets):
    from diffusers import FluxPipeline

    from conceptbench.methods import get_method

    out, params = _train_method(tmp_path, tiny_flux_model, dog_targets, "textual_inversion")
    assert not (out / LORA).exists()  # the transformer stays as it is
    tuned = _load_token_as_documented(FluxPipeline.from_pretrained(tiny_flux_model, local_files_only=True), out)
    base = FluxPipeline.from_pretrained(tiny_flux_model, local_files_only=True)
    # The token is a new word of both encoders, and what it learned reaches both prompt embeddings.
    for tokenizer in (tuned.tokenizer, tuned.tokenizer_2):
        assert tokenizer.convert_tokens_to_ids("<blue_dog>") == len(tokenizer) - 1
    t5, pooled, _ = tuned.encode_prompt("a photo of <blue_dog>", device="cpu")
    t5_dog, pooled_dog, _ = tuned.encode_prompt("a photo of dog", device="cpu")
    assert (t5 - t5_dog).abs().max() > 1e-4 and (pooled - pooled_dog).abs().max() > 1e-4
    after = _generate(tuned, "a photo of <blue_dog>")
    assert np.abs(after - _generate(base, "a photo of dog")).max() > 1e-4
    np.testing.assert_array_equal(after, _generate(get_method("textual_inversion").load(tiny_flux_model, out, params),
                                                   "a photo of <blue_dog>"))


def test_pivotal_tuning_trains_the_token_and_a_transformer_lora_and_loads_with_the_stock_calls(tmp_path,
                                                                                                tiny_flux_model,
                                                                                                dog_targets):
    from diffusers import FluxPipeline

    from conceptbench.methods import get_method

    out, params = _train_method(tmp_path, tiny_flux_model, dog_targets, "pivotal_tuning", token_learning_rate=5e-2)
    assert params["target_modules"] == flux1.LORA_TARGETS  # LoRA's targets on FLUX.1, not SD's
    keys = load_file(str(out / LORA))
    assert keys and all(key.startswith("transformer.") for key in keys)
    tuned = _load_token_as_documented(FluxPipeline.from_pretrained(tiny_flux_model, local_files_only=True), out)
    tuned.load_lora_weights(str(out), weight_name=LORA)
    only_token = _load_token_as_documented(FluxPipeline.from_pretrained(tiny_flux_model, local_files_only=True), out)
    prompt = "a photo of <blue_dog> dog"
    after = _generate(tuned, prompt)
    assert np.abs(after - _generate(only_token, prompt)).max() > 1e-4  # the LoRA is loaded and applied
    np.testing.assert_array_equal(after, _generate(get_method("pivotal_tuning").load(tiny_flux_model, out, params),
                                                   prompt))


# ---- determinism: two processes, a killed one resumed -----------------------------------------------------------


def test_flux_trainings_are_byte_identical_and_a_killed_one_resumes_to_them(tmp_path, tiny_flux_model, dog_targets):
    assert_trainings_byte_identical_and_resumable(tmp_path, tiny_flux_model, dog_targets, flux1.FAMILY,
                                                  weighting_scheme="logit_normal")


def test_a_flux_token_training_resumes_bitwise_with_t5s_dropout_on(tmp_path, tiny_flux_model, dog_targets):
    """T5 (dropout 0.1, as FLUX.1's) runs in training mode while the token trains: its dropout draws from torch's
    global generator, which the loop re-seeds at every step, so a killed run resumes to the same bytes."""
    from transformers import T5EncoderModel

    assert T5EncoderModel.from_pretrained(tiny_flux_model / "text_encoder_2").config.dropout_rate == 0.1
    assert_trainings_byte_identical_and_resumable(tmp_path, tiny_flux_model, dog_targets, flux1.FAMILY,
                                                  method_type="textual_inversion",
                                                  artifact="learned_embeds.safetensors")


# ---- refusals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method_type", ["dreambooth", "custom_diffusion"])
def test_a_method_that_does_not_apply_is_refused_before_training(tmp_path, tiny_flux_model, dog_targets, method_type):
    assert_refused_before_training(tmp_path, tiny_flux_model, dog_targets, flux1.FAMILY, method_type)


def test_settings_made_without_the_family_are_refused(tmp_path, tiny_flux_model, dog_targets):
    """LoRA settings made for no family (a hub model start-up could not read) lack flow matching's: the training
    says so instead of training with SD's LoRA targets."""
    params = method_params({"type": "lora", "steps": 2})
    with pytest.raises(ValueError, match=r"lack FLUX.1's \['guidance_scale', 'logit_mean'.*method_params\(entry, "
                                         r"family\)"):
        train_concept(base_model=tiny_flux_model, targets_dir=dog_targets, class_images_dir=None,
                      concept_name="blue_dog", class_noun="dog", method_name="lora", params=params,
                      out_dir=tmp_path / "out", state_dir=tmp_path / "state", log=lambda *_: None)


def test_flow_matching_settings_are_refused_on_sd(tiny_model):
    from conceptbench.diffusion.families import sd1

    with pytest.raises(ValueError, match=r"no setting\(s\) \['weighting_scheme'\] \(weighting_scheme: settings of "
                                         r"FLUX.1, FLUX.2 \[klein\] and Qwen-Image, not of SD-1.x"):
        method_params({"type": "lora", "weighting_scheme": "cosmap"}, sd1.FAMILY)
    assert method_params({"type": "lora"}, sd1.FAMILY) == method_params({"type": "lora"})  # SD's params unchanged


@pytest.mark.parametrize("option", [{"snr_gamma": 5.0}, {"noise_offset": 0.1}])
def test_a_loss_option_of_sds_objective_is_refused_on_flux(tmp_path, tiny_flux_model, dog_targets, option):
    """Min-SNR and offset noise are defined on SD's DDPM schedule; flow matching has its own weighting schemes."""
    from conceptbench.config.checks import method_family_problems

    (key, value), = option.items()
    params = method_params({"type": "lora", "steps": 2, **option}, flux1.FAMILY)
    problems = method_family_problems(flux1.FAMILY, {"lora": {"type": "lora", **option}})
    assert problems == [f"methods.lora: {key}: {value} is not an option of FLUX.1's objective (it takes none of "
                        "snr_gamma, noise_offset); remove it"]
    with pytest.raises(ValueError, match=f"{key}: {value} is not an option of FLUX.1's objective"):
        train_concept(base_model=tiny_flux_model, targets_dir=dog_targets, class_images_dir=None,
                      concept_name="blue_dog", class_noun="dog", method_name="lora", params=params,
                      out_dir=tmp_path / "out", state_dir=tmp_path / "state", log=lambda *_: None)
    assert not (tmp_path / "out").exists()


@pytest.mark.workflow
def test_a_small_flux_config_runs_end_to_end(tmp_path):
    """builtin:tiny-flux, built by the workflow, on one concept and one context prompt: DreamBooth-LoRA (its class
    images made by FluxPipeline), LoRA with a snapshot and Textual Inversion (its token loaded into CLIP-L and T5
    for generation), generated, embedded and scored as on SD, with the sampler left out (FLUX.1's own flow-matching
    Euler); then a LoRA entry added plans only its own jobs."""
    import yaml
    from workflow_helpers import REPO, run_small_family_config

    lora = {**yaml.safe_load((REPO / "config" / "plumbing.yaml").read_text())["methods"]["lora"], "steps": 4,
            "checkpoint_every": 2}
    methods = {"lora": {**lora, "eval_steps": [2]}, "dreambooth_lora": {**lora, "prior_preservation": True},
               "textual_inversion": {"type": "textual_inversion", "steps": 4, "learning_rate": 5.0e-2,
                                     "checkpoint_every": 2}}
    workdir = run_small_family_config(tmp_path, "builtin:tiny-flux", methods, "FluxPipeline", scheduler_left_out=True)
    images = sorted((workdir / "results" / "images" / "blue_dog" / "lora").rglob("*.png"))
    assert len(images) == 2 * 2 * 2  # 2 prompts x 2 images, final and snapshot

    # A method entry added to the finished run plans only its own work: FLUX.1's defaults and sampler, filled in
    # at start-up, leave the other jobs' params as they were.
    from workflow_helpers import dry_run

    config = yaml.safe_load((workdir / "small.yaml").read_text())
    config["methods"]["lora_r8"] = {**lora, "rank": 8, "alpha": 8}
    (workdir / "small.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plan = dry_run(workdir, "--configfile", "small.yaml")
    assert plan.counts["train"] == 1 and plan.wildcard_values("method") == {"lora_r8"}, plan.details()
    assert not {"base_model", "class_images", "baselines", "features_baselines"} & set(plan.counts), plan.summary()
