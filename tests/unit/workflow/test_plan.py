"""The plan the rules read: paired seeds across methods, disjoint baseline halves, per-method concept phrases."""

import re

import pytest
import yaml
from workflow_helpers import REPO

from conceptbench.runs import REFERENCE_RUN
from conceptbench.workflow.plan import Plan


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
    assert "images" not in plan.metric_inputs("blue_dog", REFERENCE_RUN)
    assert len(plan.metric_inputs("blue_dog", "lora")["images"]) == len(plan.extractors)
    assert f"results/metrics/blue_dog/{REFERENCE_RUN}.csv" in plan.metric_tables()


def test_scatter_families_follow_the_metric_list():
    assert _plan().scatter_families() == ["clip", "fid", "kid"]
    assert _plan(metrics=["image_similarity_clip", "prompt_similarity_clip"]).scatter_families() == ["clip"]


def _per_kind_plan() -> Plan:
    # blue_dog is live, cyan_robot an object (their concept.yaml); a third concept makes "dog" a class of both kinds.
    return _plan(prompts={"image": "a photo of {c}", "context": {
        "object": ["a photo of {c} in a forest", "an oil painting of {c}"],
        "live": ["a photo of {c} in a forest", "a photo of {c} in a city"]}},
        concepts={"dog_toy": {"images": "data/demo/blue_dog", "class": "dog", "kind": "object"}})


def test_context_prompts_per_kind_pick_each_concepts_list():
    plan = _per_kind_plan()
    forest, painting, city = "a_photo_of_c_in_a_forest", "an_oil_painting_of_c", "a_photo_of_c_in_a_city"
    assert plan.context_ids("blue_dog") == [forest, city]
    assert plan.context_ids("cyan_robot") == [forest, painting]
    assert [s[0] for s in plan.method_sets("blue_dog", "lora")] == ["plain", forest, city]
    assert [s[1] for s in plan.method_sets("cyan_robot", "dreambooth")] == [
        "a photo of sks toy robot", "a photo of sks toy robot in a forest", "an oil painting of sks toy robot"]
    # A class's baselines cover the prompts of all its concepts, each once, in the config's order.
    assert [folder for folder, _, _ in plan.baseline_sets("dog")] == [
        f"{pid}/{half}" for pid in ["plain", forest, painting, city] for half in "ab"]
    assert [folder for folder, _, _ in plan.baseline_sets("toy_robot")] == [
        f"{pid}/{half}" for pid in ["plain", forest, painting] for half in "ab"]
    assert list(plan.text_prompts("toy_robot")) == [forest, painting]
    assert list(plan.oracle_task("blue_dog")["asked"]) == [forest, city]


def test_one_context_list_serves_every_kind():
    plan = _plan()
    assert plan.context_ids("blue_dog") == plan.context_ids("cyan_robot") == [p for p in plan.prompts if p != "plain"]


def test_eval_steps_add_snapshot_sets_feature_keys_and_tradeoff_plots():
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    for entry in raw["methods"].values():
        entry.pop("eval_steps", None)
    raw["methods"]["lora"]["eval_steps"] = [150, 75]
    plan = Plan(raw, REPO)
    final = plan.method_sets("blue_dog", "lora")
    snapshots = plan.snapshot_sets("blue_dog", "lora")
    # The same prompts and seeds as the final images, per step in order.
    assert snapshots == [[75, final], [150, final]]
    assert plan.snapshot_sets("blue_dog", "dreambooth") == []
    keys = plan.image_feature_sets("blue_dog", "lora")
    assert keys["step75/plain"] == "snapshots/step75/plain" and keys["plain"] == "plain" and len(keys) == 3 * len(final)
    assert plan.tradeoff_paths() == {"lora": {75: "lora@step75", 150: "lora@step150", 300: "lora"}}
    assert "results/summary/tradeoff_kid.png" in plan.all_outputs()
    raw["methods"]["lora"].pop("eval_steps")
    assert not any("tradeoff" in path for path in Plan(raw, REPO).all_outputs())


def test_snapshot_images_take_the_first_seeds_and_leave_out_the_set_metrics_and_their_tradeoff_plots():
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw["generation"]["num_images"] = {"plain": 5, "context": 3}
    raw["generation"]["snapshot_images"] = {"plain": 2, "context": 1}
    plan = Plan(raw, REPO)
    final = plan.method_sets("blue_dog", "lora")
    (step, snapshot), = plan.snapshot_sets("blue_dog", "lora")
    assert [step] == plan.eval_steps("lora") and [s[:2] for s in snapshot] == [s[:2] for s in final]  # same prompts
    assert [s[2] for s in snapshot] == [s[2][:2] if s[0] == "plain" else s[2][:1] for s in final]  # first seeds
    assert plan.images_per_set() == {"final": {"plain": 5, "context": 3}, "snapshots": {"plain": 2, "context": 1}}
    assert plan.snapshot_metrics() == [m for m in raw["metrics"] if "fid" not in m and "kid" not in m]
    assert plan.tradeoff_families() == ["clip"]
    tradeoffs = sorted(p for p in plan.all_outputs() if "tradeoff" in p)
    assert tradeoffs == ["results/summary/tradeoff_clip.png", "results/summary/tradeoff_clip.svg"]
    assert plan.jobs()["tradeoff"] == [{"family": "clip"}]
    # Without snapshot_images the snapshots are the final sets, on every metric.
    raw["generation"].pop("snapshot_images")
    plan = Plan(raw, REPO)
    assert plan.snapshot_sets("blue_dog", "lora") == [[step, final]] and plan.snapshot_metrics() == raw["metrics"]
    assert plan.tradeoff_families() == plan.scatter_families()


def test_training_seeds_are_runs_of_their_own_with_the_same_generation_seeds():
    plan = _plan(seeds=[0, 1, 2])
    runs = [r for r in plan.methods if r.startswith("lora")]
    assert runs == ["lora", "lora@seed1", "lora@seed2"]
    assert [plan.methods[r]["seed"] for r in runs] == [0, 1, 2]
    assert {k: v for k, v in plan.methods["lora@seed2"].items() if k != "seed"} == {
        k: v for k, v in plan.methods["lora"].items() if k != "seed"}
    # Paired by image seed across training seeds; the same prompts and phrase.
    assert plan.method_sets("blue_dog", "lora@seed1") == plan.method_sets("blue_dog", "lora")
    assert "results/checkpoints/cyan_robot/dreambooth@seed2" in plan.all_outputs()
    assert "results/metrics/cyan_robot/textual_inversion@seed1.csv" in plan.metric_tables()
    assert plan.grid_methods() == list(plan.entries)  # one seed per method in the grids
    assert plan.own_seeds() == {m: 0 for m in plan.entries}
    # Without `seeds`, one run per entry, named as the entry.
    assert list(_plan().methods) == list(_plan().entries)


def test_a_rule_asking_for_resources_under_an_unknown_name_is_refused():
    """RESOURCE_KEYS is the one list of the names `resources:` may set: a rule file asking under another name (one
    that no config could ever set) fails when the workflow is read, not silently at its defaults."""
    from conceptbench.config.checks import RESOURCE_KEYS

    plan = Plan(yaml.safe_load((REPO / "config.yaml").read_text()), REPO)
    assert "train" in RESOURCE_KEYS and plan.resources("train", 120, 8000)["runtime"] == 120
    with pytest.raises(ValueError, match="'trian'.*RESOURCE_KEYS"):
        plan.resources("trian", 120, 8000)
    with pytest.raises(ValueError, match="RESOURCE_KEYS"):
        plan.threads("trian")


def test_every_gpu_rule_requests_a_gpu_with_device_cuda_and_a_configured_gpu_is_never_dropped():
    cuda, cpu = _plan(device="cuda"), _plan(device="cpu")
    assert cuda.resources("features", 30, 4000, gpu=True)["gpu"] == 1
    assert "gpu" not in cpu.resources("features", 30, 4000, gpu=True)
    assert "gpu" not in _plan(device="auto").resources("train", 120, 8000, gpu=True)  # auto: maybe no GPU anywhere
    assert "gpu" not in cuda.resources("metrics", 10, 4000)  # a rule that runs no model on `device`
    # `resources:` sets gpu for any rule and any device, as given: more, none, or one for a CPU rule.
    given = {"features": {"gpu": 2}, "train": {"gpu": 0}, "metrics": {"gpu": 1}}
    assert _plan(device="cuda", resources=given).resources("features", 30, 4000, gpu=True)["gpu"] == 2
    assert _plan(device="cuda", resources=given).resources("train", 120, 8000, gpu=True)["gpu"] == 0
    assert _plan(device="cpu", resources=given).resources("metrics", 10, 4000)["gpu"] == 1
    assert _plan(device="cpu", resources=given).resources("features", 30, 4000, gpu=True)["gpu"] == 2


def _rule_blocks() -> dict[str, str]:
    blocks = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule )", path.read_text(), flags=re.MULTILINE)[1:]:
            blocks[block.split(":", 1)[0].removeprefix("rule ").strip()] = block
    return blocks


def test_every_rule_whose_script_uses_the_device_asks_for_a_gpu():
    """A rule whose script puts models on the configured device (it reads `device` from its params, or calls
    pick_device) must pass gpu=True to PLAN.resources; otherwise its jobs run on a GPU that SLURM never gave them
    and that the workstation's gpu=N limit does not count (as the features rules once did)."""
    blocks = _rule_blocks()
    assert {"features_images", "train", "metrics"} <= set(blocks)
    uses_device = set()
    for rule, block in blocks.items():
        script = re.search(r'script:\s*"\.\./scripts/([a-z_]+\.py)"', block)[1]
        if re.search(r"\bp\.device\b|pick_device", (REPO / "scripts" / script).read_text()):
            uses_device.add(rule)
            assert "gpu=True" in block, f"rule {rule} runs models on `device` ({script}) but requests no GPU"
    assert {"features_targets", "features_images", "features_baselines", "train", "generate", "baselines",
            "class_images", "world_quality"} == uses_device
