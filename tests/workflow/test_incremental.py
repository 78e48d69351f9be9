"""What re-runs after a change to a finished default run, read from Snakemake's own plan (dry runs only).

Each test changes the finished run in place (config.yaml, or a concept folder), asks `snakemake -n` for its plan,
and puts everything back. The expected plans are written as counts per rule, from the default config's shape:
C concepts, M methods, K class nouns. Features are one job per image group (all extractors at once).
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest
from workflow_helpers import (  # noqa: F401  (finished_default_run is a fixture)
    REPO,
    Plan,
    copy_workflow,
    dry_run,
    finished_default_run,
    read_config,
    say,
    write_config,
)

pytestmark = pytest.mark.workflow

# The default config's shape, checked by test_default_shape below so that a changed config.yaml fails loudly here
# rather than as puzzling counts.
C = 2  # concepts: blue_dog, cyan_robot
M = 3  # methods: textual_inversion, dreambooth, lora
K = 2  # class nouns: dog, toy robot
# One table, the clip, fid and kid scatter plots and trade-off paths, the target.
DOWNSTREAM = {"aggregate": 1, "scatter": 3, "tradeoff": 3, "all": 1}


@pytest.fixture(scope="module")
def run_dir(finished_default_run):
    workdir = finished_default_run.workdir
    plan = dry_run(workdir)
    assert plan.nothing_to_do and not plan.jobs, f"the finished run is not up to date:\n{plan.details()}"
    return workdir


@contextmanager
def changed(workdir, edit_config=None, new_concept=None):
    """Apply a change to the finished run for the duration of the block, then restore it exactly."""
    config_text = (workdir / "config.yaml").read_text()
    added = []
    try:
        if edit_config is not None:
            config = read_config(workdir)
            edit_config(config)
            write_config(workdir, config)
        if new_concept is not None:
            name, class_noun = new_concept
            folder = workdir / "data" / "demo" / name
            shutil.copytree(workdir / "data" / "demo" / "cyan_robot", folder)
            added.append(folder)
            (folder / "concept.yaml").write_text(f"class: {class_noun}\nkind: object\n")
        yield
    finally:
        (workdir / "config.yaml").write_text(config_text)
        for path in added:
            shutil.rmtree(path)


@pytest.fixture
def show(pytestconfig):
    """Print a plan's job counts past pytest's capture, so that every run's output has them."""

    def show_plan(change: str, plan: Plan) -> None:
        say(pytestconfig, f"\n  [{change}] Snakemake plans {plan.summary()}")

    return show_plan


def assert_plan(plan: Plan, expected: dict[str, int]) -> None:
    expected = {rule: n for rule, n in expected.items() if n}
    assert dict(plan.counts) == expected, (
        f"planned {plan.summary()}\nexpected {expected}\njobs and Snakemake's reasons:\n{plan.details()}"
    )


def test_default_shape(run_dir):
    config = read_config(run_dir)
    assert len(config["methods"]) == M
    assert sorted(p.name for p in (run_dir / "data" / "demo").iterdir()) == ["blue_dog", "cyan_robot"]
    assert {m.rsplit("_", 1)[1] for m in config["metrics"]} == {"clip", "dino", "inception", "oracle"}
    assert config["base_model"] == "builtin:world"
    assert "text_alignment_clip" in config["metrics"]


def test_adding_a_concept_runs_only_that_concept(run_dir, show):
    with changed(run_dir, new_concept=("cat_toy", "cat")):
        plan = dry_run(run_dir)
    show("add concept cat_toy (class cat)", plan)
    assert_plan(plan, {
        "prepare_concept": 1, "class_images": 1, "baselines": 1, "train": M, "generate": M,
        "features_targets": 1, "features_images": M, "features_baselines": 1,
        "metrics": M + 1,  # the methods and the reference levels
        "grid": 1, **DOWNSTREAM,
    })
    assert plan.wildcard_values("concept") == {"cat_toy"}, plan.details()
    assert plan.wildcard_values("cls") == {"cat"}, plan.details()
    assert {job.wc["method"] for job in plan.of("metrics")} == {"textual_inversion", "dreambooth", "lora", "_reference"}


@pytest.mark.parametrize("name, entry", [
    ("lora_r8", {"type": "lora", "steps": 40, "batch_size": 2, "learning_rate": 1.0e-3, "rank": 8, "alpha": 8,
                 "checkpoint_every": 20}),
    ("pti", {"type": "pivotal_tuning", "steps": 40, "learning_rate": 1.0e-3, "token_learning_rate": 5.0e-3,
             "use_dora": True}),
    ("cd", {"type": "custom_diffusion", "steps": 40, "learning_rate": 1.0e-4}),  # uses the dog's class images
])
def test_adding_a_method_runs_only_that_method(run_dir, show, name, entry):
    with changed(run_dir, edit_config=lambda cfg: cfg["methods"].update({name: entry})):
        plan = dry_run(run_dir)
    show(f"add method {name} ({entry['type']})", plan)
    assert_plan(plan, {"train": C, "generate": C, "features_images": C, "metrics": C, "grid": C, **DOWNSTREAM})
    assert plan.wildcard_values("method") == {name}, plan.details()


def test_changing_one_method_runs_that_method_alone(run_dir, show):
    def edit(cfg):
        cfg["methods"]["lora"]["learning_rate"] = 2.0e-3

    with changed(run_dir, edit_config=edit):
        plan = dry_run(run_dir)
    show("lora learning_rate 1e-3 -> 2e-3", plan)
    assert_plan(plan, {"train": C, "generate": C, "features_images": C, "metrics": C, "grid": C, **DOWNSTREAM})
    assert plan.wildcard_values("method") == {"lora"}, plan.details()
    assert all("Params have changed" in job.reason for job in plan.of("train")), plan.details()


def test_adding_an_eval_step_runs_only_that_method(run_dir, show):
    def edit(cfg):
        cfg["methods"]["dreambooth"]["eval_steps"].append(75)

    with changed(run_dir, edit_config=edit):
        plan = dry_run(run_dir)
    show("dreambooth eval_steps [25] -> [25, 75]", plan)
    # The snapshot is saved while training: that method trains again; its final artifact comes out the same.
    assert_plan(plan, {"train": C, "generate": C, "features_images": C, "metrics": C, "grid": C, **DOWNSTREAM})
    assert plan.wildcard_values("method") == {"dreambooth"}, plan.details()


def test_adding_a_training_seed_runs_only_that_seeds_jobs(run_dir, show):
    with changed(run_dir, edit_config=lambda cfg: cfg.update(seeds=[0, 1])):
        plan = dry_run(run_dir)
    show("seeds: [0, 1] (the methods' own seed is 0)", plan)
    # Seed 0's runs keep their names and outputs; seed 1 trains and evaluates every method again.
    assert_plan(plan, {"train": C * M, "generate": C * M, "features_images": C * M, "metrics": C * M,
                       **DOWNSTREAM})
    assert plan.wildcard_values("method") == {f"{m}@seed1" for m in read_config(run_dir)["methods"]}, plan.details()


def test_changing_the_metric_list_recomputes_metrics_only(run_dir, show):
    def edit(cfg):
        cfg["metrics"].remove("text_alignment_clip")  # in no scatter plot; the clip extractor stays in use

    with changed(run_dir, edit_config=edit):
        plan = dry_run(run_dir)
    show("metrics: drop text_alignment_clip", plan)
    assert_plan(plan, {"metrics": C * (M + 1), **DOWNSTREAM})


def test_dropping_an_extractor_re_embeds_but_does_not_retrain_or_regenerate(run_dir, show):
    def edit(cfg):
        cfg["metrics"].remove("image_similarity_dino")  # the only metric on DINO features

    with changed(run_dir, edit_config=edit):
        plan = dry_run(run_dir)
    show("metrics: drop image_similarity_dino (and with it the dino extractor)", plan)
    assert_plan(plan, {"features_targets": C, "features_images": C * M, "features_baselines": K,
                       "metrics": C * (M + 1), **DOWNSTREAM})


def test_changing_error_bars_redraws_the_scatter_plots_only(run_dir, show):
    with changed(run_dir, edit_config=lambda cfg: cfg["plots"].update(error_bars="se")):
        plan = dry_run(run_dir)
    show("plots.error_bars sd -> se", plan)
    assert_plan(plan, {"scatter": 3, "all": 1})


def test_adding_a_context_prompt_regenerates_but_does_not_retrain(run_dir, show):
    with changed(run_dir, edit_config=lambda cfg: cfg["prompts"]["context"].append("a photo of {c} on a beach")):
        plan = dry_run(run_dir)
    show("add context prompt 'a photo of {c} on a beach'", plan)
    assert_plan(plan, {
        "generate": C * M, "baselines": K, "features_images": C * M, "features_baselines": K,
        "metrics": C * (M + 1), "grid": C, **DOWNSTREAM,
    })
    for rule in ("train", "class_images", "prepare_concept", "features_targets", "world_quality"):
        assert not plan.of(rule), plan.details()


def test_a_moved_run_is_still_up_to_date(run_dir, tmp_path, show):
    """Renaming or copying the project folder (another checkout, a CI cache) must not re-run anything."""
    moved = tmp_path / "moved"
    shutil.copytree(run_dir, moved, symlinks=True)  # copy2 keeps modification times, as `cp -a` or `mv` would
    plan = dry_run(moved)
    show("finished run copied to another folder", plan)
    assert_plan(plan, {})


# ---- shared intermediates, from scratch ----------------------------------------------------------------------

SHARED_RULES = ("world_quality", "prepare_concept", "class_images", "baselines", "features_targets",
                "features_baselines")


def test_shared_intermediates_are_computed_once_whatever_the_methods(tmp_path, show):
    """From scratch, per-class and per-concept work does not grow with the number of methods."""
    workdir = copy_workflow(tmp_path / "workflow")
    default = read_config(workdir)
    plans = {}
    # One method; the default three; five (two LoRA ranks and a second DreamBooth on top).
    extra = {
        "lora_r8": {**default["methods"]["lora"], "rank": 8, "alpha": 8},
        "lora_r16": {**default["methods"]["lora"], "rank": 16, "alpha": 16},
    }
    for label, methods in {
        "1 method": {"dreambooth": default["methods"]["dreambooth"]},
        "3 methods": default["methods"],
        "5 methods": {**default["methods"], **extra},
    }.items():
        write_config(workdir, {**default, "methods": methods})
        plans[len(methods)] = plan = dry_run(workdir)
        show(f"from scratch, {label}", plan)

    expected_shared = {"world_quality": 1, "prepare_concept": C, "class_images": K, "baselines": K,
                       "features_targets": C, "features_baselines": K}
    for n, plan in plans.items():
        shared = {rule: plan.counts[rule] for rule in SHARED_RULES}
        assert shared == expected_shared, f"{n} method(s): {plan.summary()}"
        assert plan.counts["train"] == plan.counts["generate"] == C * n
        assert plan.counts["features_images"] == C * n
        assert plan.counts["metrics"] == C * (n + 1)
    assert len(plans[3].jobs) == 47, plans[3].summary()  # the default DAG

    # Two concepts of one class share its class images, baselines and their features.
    second_dog = workdir / "data" / "demo" / "green_dog"
    shutil.copytree(workdir / "data" / "demo" / "blue_dog", second_dog)
    write_config(workdir, default)
    plan = dry_run(workdir)
    show("from scratch, 3 concepts of 2 classes", plan)
    assert plan.counts["class_images"] == plan.counts["baselines"] == K
    assert plan.counts["features_baselines"] == K
    assert plan.counts["prepare_concept"] == C + 1 and plan.counts["features_targets"] == C + 1


def test_files_in_a_concept_folder_that_are_not_photos_re_run_nothing(run_dir, show):
    """Finder's .DS_Store, a note or an editor's backup beside the photos: the concept's photos are its inputs,
    nothing else is."""
    folder = run_dir / "data" / "demo" / "blue_dog"
    extras = [folder / ".DS_Store", folder / "notes.txt", folder / "01.png~"]
    try:
        for path in extras:
            path.write_bytes(b"\0\1 not a photo")
        plan = dry_run(run_dir)
        show("files that are not photos in a concept folder", plan)
        assert plan.nothing_to_do and not plan.jobs, plan.details()
    finally:
        for path in extras:
            path.unlink(missing_ok=True)


def test_a_logic_edit_in_the_library_re_runs_what_it_computes_and_a_comment_nothing(run_dir, tmp_path, monkeypatch,
                                                                                    show):
    """Code is an input: each rule passes the digest of its script and of the library modules it imports
    (conceptbench/workflow/code.py). The dry runs read a copy of the library, edited: a comment re-runs nothing;
    a change of what a similarity computes re-runs the metrics and what is made from them, and no training,
    generation or embedding."""
    library = tmp_path / "library"
    shutil.copytree(REPO / "conceptbench", library / "conceptbench",
                    ignore=shutil.ignore_patterns("weights", "__pycache__"))
    (library / "conceptbench" / "world" / "weights").symlink_to(REPO / "conceptbench" / "world" / "weights")
    monkeypatch.setenv("PYTHONPATH", str(library))
    similarity = library / "conceptbench" / "scoring" / "similarity.py"
    text = similarity.read_text()

    similarity.write_text(text.replace('"""Cosine similarities', '# a comment\n"""Cosine similarities', 1)
                          .replace("    return _cosine_matrix(a, b).mean(axis=1)",
                                   "    # the mean over b's rows\n    return _cosine_matrix(a, b).mean(axis=1)"))
    plan = dry_run(run_dir)
    show("a comment in scoring/similarity.py", plan)
    assert plan.nothing_to_do and not plan.jobs, plan.details()

    logic = "    return _cosine_matrix(a, b).mean(axis=1)"
    assert logic in text
    similarity.write_text(text.replace(logic, "    return 1.0 * _cosine_matrix(a, b).mean(axis=1)"))
    plan = dry_run(run_dir)
    show("a logic edit in scoring/similarity.py", plan)
    assert_plan(plan, {"metrics": C * (M + 1), **DOWNSTREAM})
