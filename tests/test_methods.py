"""Each method trains on the tiny model, and its artifact loads with the stock diffusers call and changes output."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conceptbench.methods import get_method, method_params
from conceptbench.models import load_pipeline
from conceptbench.train import train_concept


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
    import json

    meta = json.loads((out / "metadata.json").read_text())
    for key in ("hyperparameters", "seed", "versions", "base_model", "wall_time_s", "peak_memory_mb"):
        assert key in meta
    assert meta["base_model"]["weights_sha256"]
    # No resumable state is left, only links to the outputs (see test_resume.py for why).
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["finished", "finished.json"]


def test_textual_inversion_changes_only_the_new_token(tmp_path, tiny_model, dog_targets):
    out, params = _train(tmp_path, tiny_model, dog_targets, "textual_inversion")
    base = load_pipeline(tiny_model)
    tuned = load_pipeline(tiny_model)
    tuned.load_textual_inversion(str(out), weight_name="learned_embeds.safetensors")
    old = base.text_encoder.get_input_embeddings().weight
    new = tuned.text_encoder.get_input_embeddings().weight
    assert new.shape[0] == old.shape[0] + 1
    torch.testing.assert_close(new[:-1], old, rtol=0, atol=0)


def test_unknown_method_type_lists_known_ones():
    with pytest.raises(ValueError, match="known types: dreambooth, lora, textual_inversion"):
        get_method("hypernetwork")


def test_setting_of_another_method_type_is_rejected():
    with pytest.raises(ValueError, match="rank"):
        method_params({"type": "dreambooth", "rank": 4})
