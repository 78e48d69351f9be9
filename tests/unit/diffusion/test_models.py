import json

import torch

from conceptbench.diffusion.pipelines import load_pipeline, model_identity
from conceptbench.diffusion.tiny import build_tiny_pipeline


def test_tiny_build_is_deterministic_and_reloads(tmp_path, tiny_model):
    again = build_tiny_pipeline(tmp_path / "again")
    assert model_identity(again)["weights_sha256"] == model_identity(tiny_model)["weights_sha256"]
    other_seed = build_tiny_pipeline(tmp_path / "other", seed=1)
    assert model_identity(other_seed)["weights_sha256"] != model_identity(tiny_model)["weights_sha256"]

    pipe = load_pipeline(tiny_model)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    index = json.loads((tiny_model / "model_index.json").read_text())
    assert index["safety_checker"] == [None, None]
    image = pipe("a photo of a dog", num_inference_steps=2, height=32, width=32,
                 generator=torch.Generator().manual_seed(0), output_type="np").images
    assert image.shape == (1, 32, 32, 3)


def test_tokenizer_is_character_level(tiny_model):
    pipe = load_pipeline(tiny_model)
    ids = pipe.tokenizer("sks dog", add_special_tokens=False).input_ids
    assert len(ids) == 6  # s k s</w> d o g</w>


def test_loading_a_folder_without_model_index_names_the_fix(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="model_index.json"):
        load_pipeline(tmp_path)
