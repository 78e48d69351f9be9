"""Tests for the demo concept generator and the committed data/demo it produced."""

from pathlib import Path

import numpy as np
from PIL import Image
from workflow_helpers import REPO

from conceptbench.inputs.concepts import discover_concepts, list_image_files, load_concept_images
from conceptbench.world.demo import DEMO_CONCEPTS, N_IMAGES, main, make_demo_concepts

COMMITTED = REPO / "data" / "demo"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "RGB"
        return np.asarray(img)


def test_generator_is_deterministic(tmp_path):
    make_demo_concepts(tmp_path / "a")
    make_demo_concepts(tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(a) == len(DEMO_CONCEPTS) * (N_IMAGES + 1)
    assert a == b


def test_committed_demo_matches_fresh_generation(tmp_path):
    # Pixels rather than PNG bytes: another zlib build may compress identical pixels differently.
    main([str(tmp_path)])
    fresh, committed = _files(tmp_path), _files(COMMITTED)
    assert sorted(committed) == sorted(fresh), "data/demo is stale: rerun `python -m conceptbench.world.demo data/demo`"
    for rel in fresh:
        if rel.endswith(".png"):
            assert np.array_equal(_pixels(tmp_path / rel), _pixels(COMMITTED / rel)), rel
        else:
            assert committed[rel] == fresh[rel], rel


def test_committed_demo_concepts_load():
    concepts = discover_concepts(COMMITTED)
    assert {name: (c.class_noun, c.kind) for name, c in concepts.items()} == {
        name: (class_noun, kind) for name, (class_noun, kind, *_) in DEMO_CONCEPTS.items()
    }
    assert len({c.class_slug for c in concepts.values()}) == len(concepts)  # distinct class nouns
    for concept in concepts.values():
        images = load_concept_images(concept.folder, 32)
        assert len(images) == N_IMAGES
        assert all(im.mode == "RGB" and im.size == (32, 32) for im in images)


def test_demo_images_vary_but_stay_the_same_object():
    for name in DEMO_CONCEPTS:
        arrays = [_pixels(p).astype(int) for p in list_image_files(COMMITTED / name)]
        assert all(a.shape == (64, 64, 3) for a in arrays)
        # Every "photo" differs from the others (pose/background changes) ...
        for i in range(len(arrays)):
            for j in range(i + 1, len(arrays)):
                assert np.abs(arrays[i] - arrays[j]).mean() > 5, (name, i, j)
    # ... while showing one individual that the world itself never draws (see test_world for the world's side).
    from conceptbench.world.demo import concept_scenes
    from conceptbench.world.individuals import NOVEL_COLOURS
    from conceptbench.world.scenes import EXCLUDED_COLOURS

    for name, (class_noun, *_rest) in DEMO_CONCEPTS.items():
        scenes = concept_scenes(name)
        look = scenes[0].look
        assert len({s.look for s in scenes}) == 1
        # Something no world object has (an accessory or a pattern), in a colour the world never gives its class.
        assert look.accessory is not None or look.pattern is not None
        assert scenes[0].colour in EXCLUDED_COLOURS.get(class_noun, ()) or scenes[0].colour in NOVEL_COLOURS
        assert len({s.context for s in scenes}) >= 3, "the photos should be in varied contexts"
