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


def test_tiny_flux_builds_saves_reloads_and_generates(tmp_path, tiny_flux_model):
    """builtin:tiny-flux: a random FluxPipeline of the FLUX.1 shape, reloaded by the stock from_pretrained from local
    files alone, drawing a 32 px image in 2 steps; the same seed gives the same weights."""
    from diffusers import FluxPipeline

    from conceptbench.diffusion.tiny import build_tiny_flux_pipeline

    again = build_tiny_flux_pipeline(tmp_path / "again")
    assert model_identity(again)["weights_sha256"] == model_identity(tiny_flux_model)["weights_sha256"]
    pipe = FluxPipeline.from_pretrained(tiny_flux_model, local_files_only=True)
    assert json.loads((tiny_flux_model / "model_index.json").read_text())["_class_name"] == "FluxPipeline"
    transformer, vae = pipe.transformer.config, pipe.vae.config
    # 4 latent channels packed 2x2: the transformer reads 16 channels per image token.
    assert (vae.latent_channels, transformer.in_channels, transformer.guidance_embeds) == (4, 16, True)
    assert (transformer.num_layers, transformer.num_single_layers, transformer.num_attention_heads,
            transformer.attention_head_dim, transformer.joint_attention_dim) == (1, 1, 2, 16, 32)
    assert (pipe.tokenizer.model_max_length, pipe.tokenizer_2.model_max_length) == (77, 512)
    assert pipe.tokenizer_2.tokenize("sks dog") == ["\u2581s", "k", "s", "\u2581d", "o", "g"]  # characters
    image = pipe("a photo of a dog", num_inference_steps=2, height=32, width=32, guidance_scale=3.5,
                 generator=torch.Generator().manual_seed(0), output_type="np").images
    assert image.shape == (1, 32, 32, 3) and image.std() > 0.01
