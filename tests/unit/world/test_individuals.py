"""The generated individuals: distinct, of every class and both kinds, outside the world's colours and markings."""

import numpy as np
import pytest

from conceptbench.inputs.concepts import discover_concepts
from conceptbench.world import vocabulary as V
from conceptbench.world.__main__ import main
from conceptbench.world.individuals import N_PHOTOS, NOVEL_COLOURS, make_individuals, max_individuals
from conceptbench.world.objects import Look, draw_object
from conceptbench.world.scenes import render


def test_individuals_are_distinct_and_cover_every_class_and_kind():
    individuals = make_individuals(32, seed=0)
    assert len({i.name for i in individuals}) == 32
    assert len({(i.class_noun, i.look) for i in individuals}) == 32
    per_class = {noun: sum(i.class_noun == noun for i in individuals) for noun in V.CLASSES}
    assert set(per_class.values()) == {4}
    assert {i.kind for i in individuals} == {"live", "object"}
    for individual in individuals:
        assert individual.colour != individual.second
        assert len(individual.photos) == N_PHOTOS and len({s.seed for s in individual.photos}) == N_PHOTOS
        assert [s.context for s in individual.photos].count("plain") == 2
        assert len({s.context for s in individual.photos}) == 4  # two plain, three different contexts


def test_novel_colours_are_far_from_every_world_colour():
    world = np.array(list(V.COLOURS.values()), dtype=float)
    for name, rgb in NOVEL_COLOURS.items():
        assert name not in V.COLOURS
        assert np.linalg.norm(world - np.array(rgb), axis=1).min() >= 90, name


def test_a_pattern_repaints_only_the_body_colour():
    body, second = NOVEL_COLOURS["cyan"], NOVEL_COLOURS["magenta"]
    plain = np.array(draw_object("teapot", Look(body, second), 128))
    checked = np.array(draw_object("teapot", Look(body, second, pattern="checks"), 128))
    changed = np.any(plain != checked, axis=-1)
    was_body = np.all(plain[..., :3] == body, axis=-1)
    assert 0.3 < changed.sum() / was_body.sum() < 0.7  # about half the body wears the second colour
    assert not np.any(changed & ~was_body)  # outlines, lid and knob keep their colours
    assert np.all(checked[changed][:, :3] == second)
    with pytest.raises(ValueError, match="unknown pattern 'plaid'"):
        draw_object("teapot", Look(body, second, pattern="plaid"), 64)


def test_the_generator_is_seeded_and_its_prefixes_stable():
    first = make_individuals(10, seed=3)
    assert first == make_individuals(10, seed=3)
    assert make_individuals(max_individuals(), seed=3)[:10] == first  # asking for more keeps the first ones
    assert make_individuals(10, seed=4) != first
    for bad in (0, max_individuals() + 1, 2.0):
        with pytest.raises(ValueError, match="n must be a whole number from 1 to"):
            make_individuals(bad)


def test_command_line_writes_concept_folders(tmp_path, capsys):
    assert main(["concepts", "--n", "9", "--out", str(tmp_path), "--seed", "1"]) == 0
    concepts = discover_concepts(tmp_path)
    assert len(concepts) == 9
    individuals = {i.name: i for i in make_individuals(9, seed=1)}
    for name, concept in concepts.items():
        assert concept.class_noun == individuals[name].class_noun
        assert concept.kind == individuals[name].kind
        files = sorted(concept.folder.glob("*.png"))
        assert len(files) == N_PHOTOS
        from PIL import Image
        with Image.open(files[0]) as image:
            assert image.size == (32, 32)
            assert np.array_equal(np.asarray(image), np.asarray(render(individuals[name].photos[0], 32)))
    assert "not checked here" in capsys.readouterr().out
