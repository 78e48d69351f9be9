"""The conceptbench world: captions in the prompts' wording, deterministic scenes, the committed models and their
card, and the rebuild recipe at a tiny budget."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import yaml
from workflow_helpers import REPO

from conceptbench.diffusion.sources import BUILTIN_WORLD, WORLD_MODEL_KINDS, WORLD_WEIGHTS_DIR, weights_version
from conceptbench.world import vocabulary as V
from conceptbench.world.dataset import make_identity_pairs, make_world_data
from conceptbench.world.scenes import EXCLUDED_COLOURS, render, sample_scene

# ---- the world's words -----------------------------------------------------------------------------------------


def test_every_default_context_prompt_is_in_the_world_grammar():
    prompts = yaml.safe_load((REPO / "config.yaml").read_text())["prompts"]
    asked = {template: V.parse_prompt(template) for template in prompts["context"]}
    assert all(asked.values()), [t for t, a in asked.items() if not a]
    assert asked["a photo of {c} in a desert"] == {"context": "desert", "rendering": "photo", "holding": "no"}
    assert asked["an oil painting of {c}"] == {"context": "plain", "rendering": "painting", "holding": "no"}
    assert asked["Elmo holding {c}"] == {"context": "plain", "rendering": "photo", "holding": "yes"}
    assert V.parse_prompt("a photo of {c} on the moon") is None
    assert V.parse_prompt(prompts["image"]) == {"context": "plain", "rendering": "photo", "holding": "no"}


def test_captions_read_back_as_the_scene_they_describe():
    rng = np.random.default_rng(0)
    for _ in range(300):
        scene = sample_scene(rng)
        noun = V.noun_phrase(scene.class_noun, scene.colour if scene.name_colour else None)
        template = scene.caption().replace(noun, "{c}", 1)
        asked = V.parse_prompt(template)
        assert asked == {k: v for k, v in scene.labels().items() if k != "class"}, scene.caption()


def test_world_words_are_single_tokens_and_others_fall_apart(tmp_path):
    from transformers import CLIPTokenizer

    from conceptbench.world_models.tokenizer import write_world_tokenizer

    tokenizer = CLIPTokenizer.from_pretrained(write_world_tokenizer(tmp_path))
    for word in V.words():
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word
    assert len(tokenizer("sks", add_special_tokens=False).input_ids) == 3  # a rare word stays rare


# ---- scenes and data -------------------------------------------------------------------------------------------


def test_rendering_is_a_pure_function_of_the_scene():
    scene = sample_scene(np.random.default_rng(5))
    assert np.array_equal(np.asarray(render(scene)), np.asarray(render(scene)))
    assert render(scene, 48).size == (48, 48)


def test_the_demo_individuals_are_never_drawn_by_the_world():
    rng = np.random.default_rng(1)
    for class_noun, excluded in EXCLUDED_COLOURS.items():
        scenes = [sample_scene(rng, class_noun=class_noun) for _ in range(500)]
        assert not {s.colour for s in scenes} & set(excluded)
        assert all(s.look.accessory is None for s in scenes)


def test_world_data_is_the_same_whatever_the_number_of_workers():
    one = make_world_data(1200, seed=3, workers=1)
    two = make_world_data(1200, seed=3, workers=2)
    assert np.array_equal(one.images, two.images) and one.captions == two.captions
    assert set(one.labels) == set(V.ATTRIBUTES)
    # Every class and context shows up, with the statistics the world promises.
    assert set(one.labels["class"]) == set(range(len(V.CLASSES)))
    assert set(one.labels["context"]) == set(range(len(V.CONTEXTS)))
    assert 0.05 < one.labels["holding"].mean() < 0.15


def test_identity_pairs_show_one_individual_twice():
    first, second = make_identity_pairs(40, seed=2)
    assert first.shape == second.shape == (40, 32, 32, 3)
    assert not np.array_equal(first, second)


# ---- the committed models ---------------------------------------------------------------------------------------


def test_committed_weights_match_their_card():
    card = json.loads((WORLD_WEIGHTS_DIR / "card.json").read_text())
    on_disk = {p.relative_to(WORLD_WEIGHTS_DIR).as_posix() for p in WORLD_WEIGHTS_DIR.rglob("*")
               if p.is_file() and p.name not in ("card.json", "MODEL_CARD.md")}
    assert on_disk == set(card["files"]), "files differ from the card: rebuild with python -m conceptbench.world_models build"
    for name, digest in card["files"].items():
        assert hashlib.sha256((WORLD_WEIGHTS_DIR / name).read_bytes()).hexdigest() == digest, name
    size = sum((WORLD_WEIGHTS_DIR / name).stat().st_size for name in card["files"])
    assert size <= 25 * 2**20, f"{size / 2**20:.1f} MB of world weights; the budget is 25 MB"
    assert not [p for p in WORLD_WEIGHTS_DIR.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
    assert card["settings"] and card["hardware"] and card["wall_time_s"] > 0
    assert set(card["quality"]["base_model"]) >= {"class_accuracy", "context_accuracy", "fid_inception"}
    assert len(weights_version()) == 12


def test_builtin_world_loads_through_the_stock_code_paths():
    import torch

    from conceptbench.diffusion.pipelines import load_pipeline
    from conceptbench.scoring.extractors import Extractor

    pipe = load_pipeline(BUILTIN_WORLD)
    images = pipe("a photo of dog in a forest", num_inference_steps=2, height=32, width=32,
                  generator=torch.Generator().manual_seed(0), output_type="np").images
    assert images.shape == (1, 32, 32, 3)
    for kind in WORLD_MODEL_KINDS[1:]:
        extractor = Extractor(kind, BUILTIN_WORLD)
        assert not extractor.random_weights
    oracle = Extractor("oracle", BUILTIN_WORLD)
    assert oracle.labels[:2] == ["class=dog", "class=cat"] and len(oracle.labels) == sum(map(len, V.ATTRIBUTES.values()))


def test_feature_files_record_the_extractor_and_its_preprocessing(tmp_path):
    from PIL import Image

    from conceptbench.scoring.extractors import Extractor
    from conceptbench.scoring.feature_files import features_metadata, load_features, save_features

    oracle = Extractor("oracle", BUILTIN_WORLD)
    image = Image.open(REPO / "data" / "demo" / "blue_dog" / "00.png")
    save_features(tmp_path / "f.safetensors", {"targets": oracle.embed_images([image])}, oracle)
    meta = features_metadata(tmp_path / "f.safetensors")
    assert meta["extractor"] == "oracle" and meta["random_weights"] == "false"
    assert meta["preprocessing"].startswith(f"shorter side bicubic-resized to {oracle.size}")
    assert json.loads(meta["labels"]) == oracle.labels
    probs = load_features(tmp_path / "f.safetensors")["targets"]
    assert probs.shape == (1, len(oracle.labels)) and np.isclose(probs[0, :8].sum(), 1.0, atol=1e-5)


def test_the_rebuild_command_runs_at_a_tiny_budget(tmp_path):
    out = tmp_path / "world"
    done = subprocess.run([sys.executable, "-m", "conceptbench.world_models", "build", "--out", str(out),
                           "--budget", "tiny", "--threads", "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["settings"]["diffusion_steps"] == 2
    assert sorted(p.name for p in out.iterdir()) == sorted([*WORLD_MODEL_KINDS, "card.json", "MODEL_CARD.md"])
    from conceptbench.diffusion.pipelines import load_pipeline

    assert load_pipeline(out / "base_model").tokenizer("a photo of dog", add_special_tokens=False).input_ids.__len__() == 4
    assert "Built in" in (out / "MODEL_CARD.md").read_text()
    assert weights_version(out) != weights_version()

    # Retraining one model keeps the others' files, and the card says what was rebuilt.
    before = json.loads((out / "card.json").read_text())["files"]
    done = subprocess.run([sys.executable, "-m", "conceptbench.world_models", "build", "--out", str(out),
                           "--budget", "tiny", "--threads", "1", "--only", "clip"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = json.loads((out / "card.json").read_text())
    assert {k: v for k, v in after["files"].items() if not k.startswith("clip/")} == \
        {k: v for k, v in before.items() if not k.startswith("clip/")}
    assert [build["models"] for build in after["history"]] == [list(WORLD_MODEL_KINDS), ["clip"]]
