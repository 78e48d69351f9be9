"""Each method trains on the tiny model, and its artifact loads with the stock diffusers call and changes output."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conceptbench.diffusion.pipelines import load_pipeline
from conceptbench.methods import get_method, method_params
from conceptbench.methods.job import train_concept


def _generate(pipe, prompt):
    return pipe(prompt, num_inference_steps=3, height=32, width=32, guidance_scale=1.0,
                generator=torch.Generator().manual_seed(0), output_type="np").images


def _train(tmp_path, tiny_model, dog_targets, method_type, **overrides):
    params = method_params({"type": method_type, "steps": 6, "learning_rate": 1e-2, "checkpoint_every": 3,
                            **overrides})
    out = tmp_path / "ckpt"
    train_concept(base_model=tiny_model, targets_dir=dog_targets, class_images_dir=dog_targets,
                  concept_name="blue_dog", class_noun="dog", method_name=method_type, params=params,
                  out_dir=out, state_dir=tmp_path / "state", log=lambda *_: None)
    return out, params


@pytest.mark.parametrize("method_type", ["textual_inversion", "dreambooth", "lora"])
def test_artifact_loads_into_stock_pipeline_and_changes_output(tmp_path, tiny_model, dog_targets, method_type):
    out, params = _train(tmp_path, tiny_model, dog_targets, method_type)
    method = get_method(method_type)
    phrase = method.concept_phrase("blue_dog", "dog", params)
    prompt = f"a photo of {phrase}"

    # The stock diffusers calls the design names, on a fresh pipeline.
    base = load_pipeline(tiny_model)
    if method_type == "textual_inversion":
        tuned = load_pipeline(tiny_model)
        tuned.load_textual_inversion(str(out), weight_name="learned_embeds.safetensors")
        embeds = load_file(str(out / "learned_embeds.safetensors"))
        assert list(embeds) == ["<blue_dog>"] and embeds["<blue_dog>"].shape == (1, 32)
        # The base model does not know the token; compare against its class-noun prompt.
        before = _generate(base, "a photo of dog")
    elif method_type == "lora":
        tuned = load_pipeline(tiny_model)
        tuned.load_lora_weights(str(out), weight_name="pytorch_lora_weights.safetensors")
        before = _generate(base, prompt)
    else:
        from diffusers import StableDiffusionPipeline

        tuned = StableDiffusionPipeline.from_pretrained(out, safety_checker=None, feature_extractor=None,
                                                        image_encoder=None, requires_safety_checker=False)
        assert not list(out.rglob("*.bin")), "weights must be safetensors only"
        before = _generate(base, prompt)
    after = _generate(tuned, prompt)
    assert np.abs(after - before).max() > 1e-4
    # The registry's own loader gives the same pipeline behaviour.
    again = _generate(method.load(tiny_model, out, params), prompt)
    np.testing.assert_array_equal(after, again)

    assert (out / "loss.csv").read_text().splitlines()[0] == "step,loss,lr"
    assert len((out / "loss.csv").read_text().splitlines()) == 1 + params["steps"]

    meta = json.loads((out / "metadata.json").read_text())
    for key in ("hyperparameters", "seed", "versions", "base_model", "wall_time_s", "peak_memory_mb"):
        assert key in meta
    assert meta["base_model"]["weights_sha256"]
    # No resumable state is left, only links to the outputs (see tests/unit/methods/test_resume.py for why).
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["finished", "finished.json"]


@pytest.mark.parametrize("asked, used", [("fp16", "no"), ("bf16", "bf16")])
def test_metadata_records_the_precision_training_used(tmp_path, tiny_model, dog_targets, asked, used):
    # On a CPU accelerate computes fp16 in float32 (it has no float16 autocast there) and bf16 in bfloat16.
    params = method_params({"type": "textual_inversion", "steps": 2, "checkpoint_every": 0, "mixed_precision": asked})
    meta = train_concept(base_model=tiny_model, targets_dir=dog_targets, class_images_dir=None,
                         concept_name="blue_dog", class_noun="dog", method_name="ti", params=params,
                         out_dir=tmp_path / "ckpt", state_dir=tmp_path / "state", log=lambda *_: None, device="cpu")
    assert meta == json.loads((tmp_path / "ckpt" / "metadata.json").read_text())
    assert (meta["device"], meta["mixed_precision"], meta["hyperparameters"]["mixed_precision"]) == ("cpu", used, asked)
    assert meta["attempts"][-1]["mixed_precision"] == used
    if used == asked:
        assert "mixed_precision_note" not in meta
    else:
        assert meta["mixed_precision_note"] == "fp16 requested, not available on cpu: trained in float32"


def test_textual_inversion_changes_only_the_new_token(tmp_path, tiny_model, dog_targets):
    out, params = _train(tmp_path, tiny_model, dog_targets, "textual_inversion")
    base = load_pipeline(tiny_model)
    tuned = load_pipeline(tiny_model)
    tuned.load_textual_inversion(str(out), weight_name="learned_embeds.safetensors")
    old = base.text_encoder.get_input_embeddings().weight
    new = tuned.text_encoder.get_input_embeddings().weight
    assert new.shape[0] == old.shape[0] + 1
    torch.testing.assert_close(new[:-1], old, rtol=0, atol=0)


@pytest.mark.parametrize("method_type", ["textual_inversion", "pivotal_tuning", "custom_diffusion"])
def test_a_placeholder_that_is_already_a_word_is_refused(tiny_model, method_type):
    """CLIP's vocabulary holds `dog</w>`, not `dog`: adding "dog" as a token would succeed and turn every "dog" of a
    prompt into a new, random row. The world's tokenizer knows "dog" as a word; the tiny one knows single letters."""
    from transformers import CLIPTokenizer

    from conceptbench.diffusion.sources import world_path
    from conceptbench.methods.textual_inversion import check_placeholder

    world = CLIPTokenizer.from_pretrained(world_path("base_model") / "tokenizer")
    with pytest.raises(ValueError, match=r"placeholder 'dog' is already a word of this tokenizer \('dog</w>'\)"):
        check_placeholder("dog", world)
    check_placeholder("<blue_dog>", world)  # a new word: accepted
    params = method_params({"type": method_type, "placeholder": "x"})
    with pytest.raises(ValueError, match="placeholder 'x' is already a word"):
        get_method(method_type).prepare(load_pipeline(tiny_model), "blue_dog", "dog", params)


def test_unknown_method_type_lists_known_ones():
    with pytest.raises(ValueError, match="known types: custom_diffusion, dreambooth, lora, pivotal_tuning, textual_inversion"):
        get_method("hypernetwork")


def test_setting_of_another_method_type_is_rejected():
    with pytest.raises(ValueError, match="rank"):
        method_params({"type": "dreambooth", "rank": 4})


@pytest.mark.parametrize("method_type", ["textual_inversion", "dreambooth", "lora"])
def test_a_snapshot_is_the_artifact_a_shorter_training_saves(tmp_path, tiny_model, dog_targets, method_type):
    """eval_steps: the snapshot at step 3 of a 6-step run equals, weight for weight, a 3-step run's artifact, and
    loads with the method's stock call; the 6-step artifact is the one a run without snapshots saves."""
    from conceptbench.methods.job import snapshot_dir

    # DreamBooth saved in half precision at the end: the snapshot keeps full precision (training goes on).
    long_out, params = _train(tmp_path / "long", tiny_model, dog_targets, method_type, eval_steps=[3],
                              **({"save_half_precision": True} if method_type == "dreambooth" else {}))
    short_out, _ = _train(tmp_path / "short", tiny_model, dog_targets, method_type, steps=3)
    snapshot = snapshot_dir(long_out, 3)
    weights = sorted(short_out.rglob("*.safetensors"))
    assert weights and [p.relative_to(short_out) for p in weights] == sorted(
        p.relative_to(snapshot) for p in snapshot.rglob("*.safetensors"))
    for path in weights:
        ours, theirs = load_file(str(snapshot / path.relative_to(short_out))), load_file(str(path))
        assert ours.keys() == theirs.keys()
        for key in ours:
            torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=0)
    prompt = f"a photo of {get_method(method_type).concept_phrase('blue_dog', 'dog', params)}"
    method = get_method(method_type)
    np.testing.assert_array_equal(_generate(method.load(tiny_model, snapshot, params), prompt),
                                  _generate(method.load(tiny_model, short_out, params), prompt))
    # The final artifact is the 6-step one, not the snapshot.
    final = load_file(str(next(long_out.glob("*.safetensors")) if method_type != "dreambooth"
                          else long_out / "unet" / "diffusion_pytorch_model.safetensors"))
    early = load_file(str(next(snapshot.glob("*.safetensors")) if method_type != "dreambooth"
                          else snapshot / "unet" / "diffusion_pytorch_model.safetensors"))
    assert any(not torch.equal(final[k].float(), early[k].float()) for k in final)
    # Saving snapshots leaves the training as it was: the final artifact equals a run without eval_steps.
    plain_out, _ = _train(tmp_path / "plain", tiny_model, dog_targets, method_type,
                          **({"save_half_precision": True} if method_type == "dreambooth" else {}))
    for path in sorted(plain_out.rglob("*.safetensors")):
        assert path.read_bytes() == (long_out / path.relative_to(plain_out)).read_bytes(), path


def test_eval_steps_must_come_before_the_last_step():
    with pytest.raises(ValueError, match=r"eval_steps \[6, 9\] are not below steps \(6\)"):
        method_params({"type": "lora", "steps": 6, "eval_steps": [3, 6, 9]})
    assert method_params({"type": "lora", "steps": 6, "eval_steps": [4, 2]})["eval_steps"] == [2, 4]


@pytest.mark.parametrize("option, expected_key", [
    ({"train_text_encoder": True}, "text_encoder."),
    ({"use_dora": True}, "lora_magnitude_vector"),
    ({"target_modules": "attention_and_feedforward"}, "ff.net.2"),
])
def test_lora_options_load_with_the_stock_call(tmp_path, tiny_model, dog_targets, option, expected_key):
    out, params = _train(tmp_path, tiny_model, dog_targets, "lora", **option)
    weights = load_file(str(out / "pytorch_lora_weights.safetensors"))
    assert any(expected_key in key for key in weights), sorted(weights)[:8]
    prompt = "a photo of sks dog"
    tuned = load_pipeline(tiny_model)
    tuned.load_lora_weights(str(out), weight_name="pytorch_lora_weights.safetensors")
    after = _generate(tuned, prompt)
    assert np.abs(after - _generate(load_pipeline(tiny_model), prompt)).max() > 1e-4
    np.testing.assert_array_equal(after, _generate(get_method("lora").load(tiny_model, out, params), prompt))


def test_pivotal_tuning_trains_a_token_and_a_lora_loaded_by_the_stock_calls(tmp_path, tiny_model, dog_targets):
    out, params = _train(tmp_path, tiny_model, dog_targets, "pivotal_tuning")
    assert get_method("pivotal_tuning").concept_phrase("blue_dog", "dog", params) == "<blue_dog> dog"
    embeds = load_file(str(out / "learned_embeds.safetensors"))
    assert list(embeds) == ["<blue_dog>"]
    lora_weights = load_file(str(out / "pytorch_lora_weights.safetensors"))
    assert any(".lora_B." in k or "lora.up" in k for k in lora_weights)
    assert any(w.abs().max() > 0 for k, w in lora_weights.items() if ".lora_B." in k or "lora.up" in k)
    # The stock calls, on a fresh pipeline: the token, then the LoRA.
    tuned = load_pipeline(tiny_model)
    tuned.load_textual_inversion(str(out), weight_name="learned_embeds.safetensors")
    tuned.load_lora_weights(str(out), weight_name="pytorch_lora_weights.safetensors")
    after = _generate(tuned, "a photo of <blue_dog> dog")
    assert np.abs(after - _generate(load_pipeline(tiny_model), "a photo of dog")).max() > 1e-4
    np.testing.assert_array_equal(after, _generate(get_method("pivotal_tuning").load(tiny_model, out, params),
                                                   "a photo of <blue_dog> dog"))

    # token_learning_rate is the token's own rate: near zero, the token stays at its start (the class noun's
    # embedding, the same in both runs) while the LoRA trains as before.
    frozen_out, _ = _train(tmp_path / "frozen", tiny_model, dog_targets, "pivotal_tuning", token_learning_rate=1e-12)
    start = load_file(str(frozen_out / "learned_embeds.safetensors"))["<blue_dog>"]
    base = load_pipeline(tiny_model)
    init_ids = base.tokenizer("dog", add_special_tokens=False).input_ids
    class_embedding = base.text_encoder.get_input_embeddings().weight[init_ids].mean(dim=0).detach()
    torch.testing.assert_close(start[0], class_embedding, rtol=0, atol=1e-6)
    assert (embeds["<blue_dog>"][0] - class_embedding).abs().max() > 1e-3


def test_custom_diffusion_trains_cross_attention_keys_values_and_a_token(tmp_path, tiny_model, dog_targets):
    from diffusers.models.attention_processor import CustomDiffusionAttnProcessor2_0

    method = get_method("custom_diffusion")
    out, params = _train(tmp_path, tiny_model, dog_targets, "custom_diffusion")
    assert method.uses_prior(params) and method.concept_phrase("blue_dog", "dog", params) == "<blue_dog> dog"
    assert list(load_file(str(out / "learned_embeds.safetensors"))) == ["<blue_dog>"]
    weights = load_file(str(out / "pytorch_custom_diffusion_weights.safetensors"))
    base = load_pipeline(tiny_model)
    cross = {name.removesuffix(".processor") for name in base.unet.attn_processors
             if base.unet.get_submodule(name.removesuffix(".processor")).is_cross_attention}
    # The key and value projections of every cross-attention layer, nothing else; each moved from its start.
    assert sorted(weights) == sorted(f"{layer}.processor.{kind}_custom_diffusion.weight"
                                     for layer in cross for kind in ("to_k", "to_v"))
    for layer in cross:
        start = base.unet.get_submodule(layer).to_k.weight
        assert (weights[f"{layer}.processor.to_k_custom_diffusion.weight"] - start).abs().max() > 1e-4, layer

    # Loaded onto a fresh stock pipeline: the token by the stock call, the layers by the public processor class.
    tuned = method.load(tiny_model, out, params)
    kinds = {name: type(p) for name, p in tuned.unet.attn_processors.items()}
    assert {kinds[f"{layer}.processor"] for layer in cross} == {CustomDiffusionAttnProcessor2_0}
    loaded = {n: p for n, p in tuned.unet.named_parameters() if "_custom_diffusion" in n}
    assert loaded.keys() == weights.keys() and all(loaded[k].equal(weights[k]) for k in weights)
    prompt = "a photo of <blue_dog> dog"
    after = _generate(tuned, prompt)
    assert np.abs(after - _generate(base, "a photo of dog")).max() > 1e-4
    # The layers alone change the output too (the token's effect aside).
    token_only = load_pipeline(tiny_model)
    token_only.load_textual_inversion(str(out), weight_name="learned_embeds.safetensors")
    assert np.abs(after - _generate(token_only, prompt)).max() > 1e-4

    # train_q_out adds the query and output projections.
    q_out, _ = _train(tmp_path / "q_out", tiny_model, dog_targets, "custom_diffusion", train_q_out=True)
    kinds = {key.split(".processor.")[1].split(".")[0]
             for key in load_file(str(q_out / "pytorch_custom_diffusion_weights.safetensors"))}
    assert kinds == {"to_k_custom_diffusion", "to_v_custom_diffusion", "to_q_custom_diffusion",
                     "to_out_custom_diffusion"}
    assert np.abs(_generate(method.load(tiny_model, q_out, params), prompt) - after).max() > 1e-4
