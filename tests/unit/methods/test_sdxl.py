"""The SDXL family on builtin:tiny-xl: detection, the training's conditioning, every method that makes sense there
(trained, loaded into a fresh stock StableDiffusionXLPipeline with the documented call, output changed), a killed
training resumed bitwise, the preset's plan and a small workflow end to end."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file
from workflow_helpers import KILL_RUNNER as RUNNER
from workflow_helpers import REPO

from conceptbench.diffusion.pipelines import load_pipeline, pipeline_family
from conceptbench.diffusion.sources import BUILTIN_WORLD
from conceptbench.methods import get_method, method_params
from conceptbench.methods.job import train_concept


def _generate(pipe, prompt):
    return pipe(prompt, num_inference_steps=3, height=32, width=32, guidance_scale=1.0,
                generator=torch.Generator().manual_seed(0), output_type="np").images


def _train(tmp_path, model, targets, method_type, **overrides):
    params = method_params({"type": method_type, "steps": 6, "learning_rate": 1e-2, "checkpoint_every": 3,
                            **overrides})
    out = tmp_path / "ckpt"
    train_concept(base_model=model, targets_dir=targets, class_images_dir=targets, concept_name="blue_dog",
                  class_noun="dog", method_name=method_type, params=params, out_dir=out,
                  state_dir=tmp_path / "state", log=lambda *_: None)
    return out, params


def test_the_family_comes_from_the_model(tiny_xl_model, tiny_model):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    assert (pipeline_family(tiny_xl_model), pipeline_family(tiny_model), pipeline_family(BUILTIN_WORLD)) == \
        ("sdxl", "sd", "sd")
    assert type(load_pipeline(tiny_xl_model)) is StableDiffusionXLPipeline
    assert type(load_pipeline(tiny_model)) is StableDiffusionPipeline


def test_another_family_is_refused_by_name(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusion3Pipeline"}))
    with pytest.raises(ValueError, match="is a StableDiffusion3Pipeline; conceptbench runs Flux2KleinPipeline, "
                                         "FluxPipeline, QwenImagePipeline, StableDiffusionPipeline and "
                                         "StableDiffusionXLPipeline models"):
        load_pipeline(tmp_path)


def test_training_conditions_the_unet_as_the_pipeline_does(tiny_xl_model):
    pipe = load_pipeline(tiny_xl_model)
    prompt = "a photo of dog in a forest"
    from types import SimpleNamespace

    from conceptbench.diffusion.families import sdxl

    # What the training loop asks of the family: the prompt's conditioning, and the objective's size numbers.
    conditioning = sdxl.FAMILY.encode_prompts(pipe, [prompt], "cpu")
    hidden, pooled = conditioning["hidden"], conditioning["pooled"]
    objective = sdxl.FAMILY.objective(pipe, SimpleNamespace(snr_gamma=None, noise_offset=0.0), 32, 32, "cpu")
    expected_hidden, _, expected_pooled, _ = pipe.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                                                do_classifier_free_guidance=False)
    torch.testing.assert_close(hidden, expected_hidden, rtol=0, atol=0)
    torch.testing.assert_close(pooled, expected_pooled, rtol=0, atol=0)
    expected_size = pipe._get_add_time_ids((32, 32), (0, 0), (32, 32), dtype=torch.float32,
                                           text_encoder_projection_dim=pipe.text_encoder_2.config.projection_dim)
    torch.testing.assert_close(objective.time_ids.float(), expected_size, rtol=0, atol=0)


def _stock_load(tiny_xl_model, out, method_type):
    """The documented stock calls on a fresh StableDiffusionXLPipeline (README, Methods)."""
    from diffusers import StableDiffusionXLPipeline

    if method_type == "dreambooth":
        return StableDiffusionXLPipeline.from_pretrained(out, use_safetensors=True)
    pipe = load_pipeline(tiny_xl_model)
    if method_type in ("textual_inversion", "pivotal_tuning"):
        path = str(out / "learned_embeds.safetensors")
        with safe_open(path, framework="pt") as handle:
            token = handle.metadata()["token"]
        embeddings = load_file(path)
        pipe.load_textual_inversion(embeddings["clip_l"], token=token, text_encoder=pipe.text_encoder,
                                    tokenizer=pipe.tokenizer)
        pipe.load_textual_inversion(embeddings["clip_g"], token=token, text_encoder=pipe.text_encoder_2,
                                    tokenizer=pipe.tokenizer_2)
    if method_type in ("lora", "pivotal_tuning"):
        pipe.load_lora_weights(str(out), weight_name="pytorch_lora_weights.safetensors")
    return pipe


@pytest.mark.parametrize("method_type", ["textual_inversion", "dreambooth", "lora", "pivotal_tuning"])
def test_each_method_trains_on_sdxl_and_loads_with_the_stock_calls(tmp_path, tiny_xl_model, dog_targets,
                                                                   method_type):
    out, params = _train(tmp_path, tiny_xl_model, dog_targets, method_type)
    method = get_method(method_type)
    prompt = f"a photo of {method.concept_phrase('blue_dog', 'dog', params)}"
    if method_type in ("textual_inversion", "pivotal_tuning"):
        embeddings = load_file(str(out / "learned_embeds.safetensors"))
        assert sorted(embeddings) == ["clip_g", "clip_l"]  # one row per text encoder
        assert embeddings["clip_l"].shape == embeddings["clip_g"].shape == (1, 32)
    if method_type == "lora":
        keys = load_file(str(out / "pytorch_lora_weights.safetensors"))
        assert keys and all(key.startswith("unet.") for key in keys)
    assert not list(out.rglob("*.bin")), "weights must be safetensors only"

    tuned = _stock_load(tiny_xl_model, out, method_type)
    base = load_pipeline(tiny_xl_model)
    after = _generate(tuned, prompt)
    assert np.abs(after - _generate(base, prompt.replace("<blue_dog> ", "").replace("<blue_dog>", "dog"))).max() > 1e-4
    np.testing.assert_array_equal(after, _generate(method.load(tiny_xl_model, out, params), prompt))


def test_lora_trains_both_text_encoders_on_sdxl(tmp_path, tiny_xl_model, dog_targets):
    out, params = _train(tmp_path, tiny_xl_model, dog_targets, "lora", train_text_encoder=True)
    prefixes = {key.split(".")[0] for key in load_file(str(out / "pytorch_lora_weights.safetensors"))}
    assert prefixes == {"unet", "text_encoder", "text_encoder_2"}
    only_unet, _ = _train(tmp_path / "unet", tiny_xl_model, dog_targets, "lora")
    prompt = "a photo of sks dog"
    assert np.abs(_generate(_stock_load(tiny_xl_model, out, "lora"), prompt)
                  - _generate(_stock_load(tiny_xl_model, only_unet, "lora"), prompt)).max() > 1e-4


def _run(spec: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), json.dumps(spec)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONHASHSEED": "0"})


def test_a_killed_sdxl_training_resumes_to_identical_weights(tmp_path, tiny_xl_model, dog_targets):
    """Pivotal tuning: both tokens, the UNet LoRA and the size conditioning all go through the resume."""
    params = method_params({"type": "pivotal_tuning", "steps": 10, "checkpoint_every": 4, "learning_rate": 1e-2})

    def spec(name):
        return {"base_model": str(tiny_xl_model), "targets_dir": str(dog_targets), "class_images_dir": None,
                "concept_name": "blue_dog", "class_noun": "dog", "method_name": "pivotal_tuning", "params": params,
                "out_dir": str(tmp_path / name / "out"), "state_dir": str(tmp_path / name / "state")}

    straight = _run(spec("straight"))
    assert straight.returncode == 0, straight.stderr
    killed = _run({**spec("resumed"), "signal": "SIGKILL", "at_step": 6})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _run(spec("resumed"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from saved state at step 4" in resumed.stdout + resumed.stderr
    for name in ("learned_embeds.safetensors", "pytorch_lora_weights.safetensors"):
        a, b = (load_file(str(tmp_path / run / "out" / name)) for run in ("straight", "resumed"))
        assert a.keys() == b.keys() and all(a[key].equal(b[key]) for key in a), name
    assert (tmp_path / "straight/out/loss.csv").read_text() == (tmp_path / "resumed/out/loss.csv").read_text()


# ---- the preset and the workflow --------------------------------------------------------------------------------


@pytest.mark.workflow
def test_sdxl_preset_plans(tmp_path):
    from config_helpers import with_local_models
    from workflow_helpers import copy_workflow, dry_run

    workdir = copy_workflow(tmp_path / "run")
    (workdir / "my_concepts").symlink_to(REPO / "data" / "demo", target_is_directory=True)
    preset = yaml.safe_load((REPO / "config" / "sdxl.yaml").read_text())
    with_local_models(workdir, preset)  # the Inception weights: start-up reads their header
    plan = dry_run(workdir, "--configfile", "config/sdxl.yaml")
    assert (preset["base_model"], preset["resolution"]) == ("stabilityai/stable-diffusion-xl-base-1.0", 1024)
    assert plan.wildcard_values("method") >= {"textual_inversion", "dreambooth", "lora", "pivotal_tuning"}
    assert plan.counts["train"] == 2 * 4 and "base_model" not in plan.counts  # a hub model is not built


@pytest.mark.workflow
def test_a_small_sdxl_config_runs_end_to_end(tmp_path):
    """builtin:tiny-xl, built by the workflow, on one concept and one context prompt: DreamBooth (with its class
    images) and pivotal tuning (a token in both encoders and a UNet LoRA, with a snapshot); Textual Inversion and
    LoRA alone are pivotal tuning's two halves, each trained and loaded above."""
    from workflow_helpers import run_small_family_config

    plumbing = yaml.safe_load((REPO / "config" / "plumbing.yaml").read_text())["methods"]
    methods = {
        "dreambooth": {**plumbing["dreambooth"], "steps": 4, "checkpoint_every": 2},
        "pivotal_tuning": {"type": "pivotal_tuning", "steps": 4, "learning_rate": 1e-3, "checkpoint_every": 2,
                           "eval_steps": [2]},
    }
    workdir = run_small_family_config(tmp_path, "builtin:tiny-xl", methods, "StableDiffusionXLPipeline")
    images = sorted((workdir / "results" / "images" / "blue_dog" / "pivotal_tuning").rglob("*.png"))
    assert len(images) == 2 * 2 * 2  # 2 prompts x 2 images, final and snapshot
