"""Snakemake's start-up, through `snakemake --dry-run`: a bad config or input stops the workflow before any job with
the message that tests/unit/config/test_bad_inputs.py checks in-process, and the presets stand alone and plan what
they should."""

import pytest
import yaml
from config_helpers import (
    DREAMBENCH,
    GOOD_TEXT,
    assert_names,
    base_config,
    corrupt_photo,
    dreambench_lists,
    embedded,
    needs_dreambench,
    preset,
    with_local_models,
    write_config_file,
)
from workflow_helpers import DRY_RUN_TIMEOUT, copy_workflow, dry_run, snakemake

# ---- a bad config stops the workflow at the dry run, before any job, with the same message ----------------------


SNAKEMAKE_CASES = {
    "duplicate key in config.yaml": (lambda raw: GOOD_TEXT.replace("seed: 0\n", "seed: 0\nseed: 1\n", 1),
                                     ["config.yaml", "'seed' appears twice"]),
    "resolution not a multiple of 8": (lambda raw: {**raw, "resolution": 20}, ["resolution", "multiple of 8"]),
    "corrupt photo": (None, ["good_dog", "01.png", "cannot read this image"]),
}


@pytest.mark.workflow
@pytest.mark.parametrize("case", SNAKEMAKE_CASES, ids=str)
def test_snakemake_stops_at_the_dry_run(tmp_path, case):
    edit, parts = SNAKEMAKE_CASES[case]
    workdir = copy_workflow(tmp_path / "workflow")
    raw = base_config(workdir)
    if edit is None:
        corrupt_photo(workdir / "concepts" / "good_dog")
    else:
        raw = edit(raw)
    if isinstance(raw, str):
        raw = raw.replace("concepts_dir: data/demo", "concepts_dir: concepts")
    write_config_file(workdir, raw)
    run = dry_run(workdir, check=False)
    assert run.returncode != 0, run.output
    assert_names(run.output, "config problem", *parts)
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


@pytest.mark.workflow
def test_a_bad_command_line_value_is_named_as_one(tmp_path):
    """A whole number written as a float on the command line stops at start-up, and the message says that the
    value came from --config (not only "fix it in your config file")."""
    workdir = copy_workflow(tmp_path / "workflow")
    run = dry_run(workdir, "--config", "resolution=32.0", check=False)
    assert run.returncode != 0, run.output
    assert_names(run.output, "fix it in config.yaml, or the --config values ['resolution']",
                 "resolution: 32.0 is not of type 'integer'", "(32, not 32.0)")


@pytest.mark.workflow
def test_a_duplicate_key_in_a_configfile_preset_is_refused(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    raw = base_config(workdir)
    (workdir / "preset.yaml").write_text(yaml.safe_dump(raw, sort_keys=False) + "resolution: 64\n")
    run = dry_run(workdir, "--configfile", "preset.yaml", check=False)
    output = run.output
    assert run.returncode != 0 and "preset.yaml" in output and "'resolution' appears twice" in output, output


@pytest.mark.workflow
def test_gpu_jobs_request_their_gpu_and_a_local_run_stops_without_the_gpus_it_asks_for(tmp_path, monkeypatch):
    """With device: cuda every job that runs a model on it requests gpu=1 (the features jobs too), `resources:` sets
    gpu for any rule; and a local run asking for more GPUs than the machine has stops before its first job."""
    workdir = copy_workflow(tmp_path / "workflow")
    plan = dry_run(workdir, "--config", "device=cuda", "resources={metrics: {gpu: 1}}")
    gpu = {job.rule: dict(item.split("=", 1) for item in job.get("resources").split(", ")).get("gpu")
           for job in plan.jobs}
    assert {rule for rule, count in gpu.items() if count == "1"} == {
        "train", "class_images", "generate", "baselines", "features_targets", "features_images",
        "features_baselines", "world_quality", "metrics"}, gpu
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # this machine, as the jobs would see it: one GPU
    run = snakemake(workdir, "--config", "gpus=2", timeout=DRY_RUN_TIMEOUT)
    assert run.returncode != 0
    assert_names(run.output, "config problem", "gpus: 2, but this machine has 1 GPU(s) (CUDA_VISIBLE_DEVICES=0)",
                 "set gpus: 1 or fewer")
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


@pytest.mark.parametrize("bad, keys", [
    ({"methds": {}, "methods": {"lora": {"steps": -5}}}, ["'methds' was unexpected", "methods.lora.steps"]),
    ({"concepts": {"ghost": {"images": "no/such/folder", "class": "dog"}}}, ["concepts.ghost.images"]),
], ids=["schema", "folders"])
def test_snakemake_refuses_a_bad_config(tmp_path, bad, keys):
    # A --configfile stands alone (the Snakefile then skips config.yaml), so start from the embedded default.
    workdir = copy_workflow(tmp_path / "workflow")
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump({**embedded(), **bad}))
    run = dry_run(workdir, "--configfile", str(configfile), check=False)
    assert run.returncode != 0, run.output
    assert_names(run.output, "config problem", *keys)


# ---- presets ----------------------------------------------------------------------------------------------------


def test_a_preset_stands_alone(tmp_path):
    """With --configfile, config.yaml is not read: nothing of the embedded default (here a method entry only it
    has) leaks into a preset's run."""
    workdir = copy_workflow(tmp_path / "run")
    default = embedded()
    default["methods"]["only_in_config_yaml"] = {"type": "lora", "steps": 10}
    (workdir / "config.yaml").write_text(yaml.safe_dump(default))
    assert "only_in_config_yaml" in dry_run(workdir).wildcard_values("method")
    plan = dry_run(workdir, "--configfile", "config/plumbing.yaml")
    assert plan.wildcard_values("method") == set(preset("plumbing")["methods"]) | {"_reference"}


@pytest.mark.workflow
@pytest.mark.parametrize("name", ["flux", "flux2_klein", "qwen_image"])
def test_a_transformer_family_preset_plans_before_its_model_is_downloaded(tmp_path, name):
    """`snakemake -n --configfile config/<preset>.yaml` on a machine without the model: its family is known from
    the preset's hub id (families.HUB_FAMILIES), so every job is planned, with the family's own sampler, and nothing
    is built or downloaded."""
    workdir = copy_workflow(tmp_path / "run")
    (workdir / "my_concepts").symlink_to(workdir / "data" / "demo", target_is_directory=True)
    plan = dry_run(workdir, "--configfile", f"config/{name}.yaml")
    methods = set(preset(name)["methods"])
    assert plan.wildcard_values("method") == methods | {"_reference"}
    assert plan.counts["train"] == plan.counts["generate"] == 2 * len(methods)  # the demo's two concepts
    assert "base_model" not in plan.counts and not (workdir / "results").exists()
    assert {job.get("resources") for job in plan.jobs if job.rule == "train"} and all(
        "gpu=1" in job.get("resources") for job in plan.jobs if job.rule == "train")


@needs_dreambench
def test_dreambench_preset_plans_the_papers_protocol(tmp_path):
    """30 subjects x 25 prompts (their kind's) x 4 images per method, scored over those 25 prompts' images."""
    from conceptbench.workflow.plan import Plan

    workdir = copy_workflow(tmp_path / "run")
    (workdir / "dreambench").symlink_to(DREAMBENCH, target_is_directory=True)
    with_local_models(workdir, preset("dreambench"))
    plan = Plan(preset("dreambench"), workdir)
    _, object_prompts, live_prompts = dreambench_lists()
    for concept in plan.concepts:
        for method in plan.methods:
            sets = plan.method_sets(concept, method)
            assert [s[0] for s in sets[1:]] == plan.context_ids(concept) and len(sets) == 26
            assert all(len(seeds) == 4 for _, _, seeds in sets)
        phrase = "sks " + plan.concepts[concept].class_noun
        expected = live_prompts if plan.concepts[concept].kind == "live" else object_prompts
        assert [s[1] for s in plan.method_sets(concept, "dreambooth")[1:]] == [p.replace("{c}", phrase)
                                                                              for p in expected]
    assert {"subject_similarity_clip", "subject_similarity_dino", "text_alignment_clip"} <= set(plan.cfg["metrics"])

    jobs = dry_run(workdir, "--configfile", "config/dreambench.yaml").counts
    assert (jobs["train"], jobs["generate"], jobs["features_images"]) == (90, 90, 90)
    assert jobs["metrics"] == 30 * 4  # 3 methods and the reference per subject
    classes = {c.class_slug for c in plan.concepts.values()}
    assert jobs["baselines"] == len(classes) == 15


def test_world_study_preset_plans_every_job(tmp_path):
    """32 generated individuals x 5 method types x 3 training seeds, 25 images of the plain prompt and 5 of each
    context prompt (the base model's halves too), every committed photo read at start-up."""
    from conceptbench.workflow.plan import Plan

    workdir = copy_workflow(tmp_path / "run")
    study = preset("world_study")
    plan = Plan(study, workdir)
    assert len(plan.concepts) == 32 and {c.kind for c in plan.concepts.values()} == {"live", "object"}
    types = {entry["type"] for entry in study["methods"].values()}
    assert types == {"textual_inversion", "dreambooth", "lora", "pivotal_tuning", "custom_diffusion"}
    for folder, _, seeds in plan.method_sets("cyan_dog", "lora@seed2"):
        assert seeds == list(range(25 if folder == "plain" else 5))
    halves = {folder: seeds for folder, _, seeds in plan.baseline_sets("dog")}
    assert len(halves["plain/a"]) == len(halves["plain/b"]) == 25 and not set(halves["plain/a"]) & set(halves["plain/b"])
    assert all(len(seeds) == 5 for folder, seeds in halves.items() if not folder.startswith("plain/"))

    jobs = dry_run(workdir, "--configfile", "config/world_study.yaml").counts
    runs = 32 * 5 * 3
    assert (jobs["train"], jobs["generate"], jobs["features_images"]) == (runs, runs, runs)
    assert jobs["metrics"] == runs + 32  # and each concept's reference and base-model rows
    assert (jobs["prepare_concept"], jobs["baselines"], jobs["class_images"]) == (32, 8, 8)
