"""The plan the rules read: paired seeds across methods, disjoint baseline halves, per-method concept phrases."""

from pathlib import Path

import yaml

from conceptbench.plan import REFERENCE, Plan

REPO = Path(__file__).resolve().parent.parent


def _plan(**changes):
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw.update(changes)
    return Plan(raw, REPO)


def test_every_method_gets_the_same_seeds_and_its_own_phrase():
    plan = _plan()
    sets = {m: plan.method_sets("blue_dog", m) for m in plan.methods}
    seeds = {m: [s[2] for s in v] for m, v in sets.items()}
    assert len({str(v) for v in seeds.values()}) == 1
    assert sets["textual_inversion"][0][1] == "a photo of <blue_dog>"
    assert sets["dreambooth"][0][1] == "a photo of sks dog"
    assert sets["lora"][1][1] == "a photo of sks dog in a forest"


def test_baseline_halves_have_disjoint_seeds_and_class_prompts():
    plan = _plan()
    sets = plan.baseline_sets("toy_robot")
    a = {seed for folder, _, seeds in sets if folder.endswith("/a") for seed in seeds}
    b = {seed for folder, _, seeds in sets if folder.endswith("/b") for seed in seeds}
    assert a and b and not a & b
    assert ["a_photo_of_c_in_a_forest/a", "a photo of toy robot in a forest"] == sets[2][:2]


def test_prior_only_for_methods_that_use_it():
    plan = _plan()
    assert "class_images" in plan.train_inputs("blue_dog", "dreambooth")
    assert "class_images" not in plan.train_inputs("blue_dog", "lora")


def test_reference_metrics_read_no_generated_images():
    plan = _plan()
    assert "images" not in plan.metric_inputs("blue_dog", REFERENCE)
    assert len(plan.metric_inputs("blue_dog", "lora")["images"]) == len(plan.extractors)
    assert f"results/metrics/blue_dog/{REFERENCE}.csv" in plan.metric_tables()


def test_scatter_families_follow_the_metric_list():
    assert _plan().scatter_families() == ["clip", "fid", "kid"]
    assert _plan(metrics=["image_similarity_clip", "prompt_similarity_clip"]).scatter_families() == ["clip"]
