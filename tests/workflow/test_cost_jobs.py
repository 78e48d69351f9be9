"""The cost counts the jobs Snakemake will run: Plan.jobs() (what `python -m conceptbench.cost` counts) against a
real `snakemake -n`, job by job (rule and wildcards), for the default, the default with training seeds, the plumbing
preset (its builtin:tiny builders) and the DreamBench preset."""

from __future__ import annotations

from collections import Counter

import pytest
from config_helpers import DREAMBENCH, needs_dreambench, preset, with_local_models
from workflow_helpers import copy_workflow, default_config, dry_run

from conceptbench.config.reading import read_config_file
from conceptbench.workflow.plan import Plan

pytestmark = pytest.mark.workflow


def _planned(plan: Plan) -> Counter:
    return Counter((rule, tuple(sorted(wc.items()))) for rule, listed in plan.jobs().items() for wc in listed)


def _dry_run(workdir, *args) -> Counter:
    return Counter((job.rule, job.wildcards) for job in dry_run(workdir, *args).jobs)


def _assert_same(planned: Counter, snakemake: Counter) -> None:
    assert planned == snakemake, (f"only in Plan.jobs(): {sorted((planned - snakemake).elements())}\n"
                                  f"only in snakemake -n: {sorted((snakemake - planned).elements())}")
    assert sum(planned.values()) == sum(snakemake.values())


def test_the_default_plans_what_snakemake_runs(tmp_path):
    workdir = copy_workflow(tmp_path / "run")
    _assert_same(_planned(Plan(default_config(), workdir)), _dry_run(workdir))


def test_training_seeds_are_counted_as_runs_of_their_own(tmp_path):
    config = {**default_config(), "seeds": [0, 1]}
    workdir = copy_workflow(tmp_path / "run", config)
    planned = _planned(Plan(config, workdir))
    assert ("train", (("concept", "blue_dog"), ("method", "lora@seed1"))) in planned
    _assert_same(planned, _dry_run(workdir))


def test_the_plumbing_preset_counts_the_tiny_model_builders(tmp_path):
    workdir = copy_workflow(tmp_path / "run")
    planned = _planned(Plan(read_config_file(workdir / "config" / "plumbing.yaml"), workdir))
    assert {rule for rule, _ in planned} >= {"base_model", "extractor_model"}
    _assert_same(planned, _dry_run(workdir, "--configfile", "config/plumbing.yaml"))


@needs_dreambench
def test_the_dreambench_preset_plans_what_snakemake_runs(tmp_path):
    workdir = copy_workflow(tmp_path / "run")
    (workdir / "dreambench").symlink_to(DREAMBENCH, target_is_directory=True)
    with_local_models(workdir, preset("dreambench"))
    planned = _planned(Plan(read_config_file(workdir / "config" / "dreambench.yaml"), workdir))
    _assert_same(planned, _dry_run(workdir, "--configfile", "config/dreambench.yaml"))

