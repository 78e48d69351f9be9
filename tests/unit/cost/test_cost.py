"""`python -m conceptbench.cost`: the work of every job counted from the presets' own recipes, hours priced from
the throughput table (a stage without a figure stays unknown), and a bad config refused as the workflow refuses it.
That the jobs are those Snakemake runs is tests/workflow/test_cost_jobs.py's part."""

from __future__ import annotations

import json

import pytest
from config_helpers import DEMO, embedded, preset, with_local_models, write_config_file

from conceptbench.cost.__main__ import main
from conceptbench.cost.report import cost_report
from conceptbench.cost.throughput import SD1, SDXL, WORLD, family_of
from conceptbench.cost.work import plan_work
from conceptbench.workflow.plan import Plan


def _preset_plan(tmp_path, name: str, **changes) -> Plan:
    """A preset with the two demo concepts as its my_concepts and stand-ins for its local model files."""
    (tmp_path / "my_concepts").symlink_to(DEMO, target_is_directory=True)
    config = {**preset(name), **changes}
    return Plan(config, with_local_models(tmp_path, config))


def _total(work, rule: str, what: str = "units") -> int:
    return sum(getattr(job, what) for job in work[rule])


def test_the_sd15_presets_work_comes_from_its_recipes(tmp_path):
    plan = _preset_plan(tmp_path, "sd15")
    work = plan_work(plan)
    # Per concept: TI 3000 x 4, DreamBooth 800 x 1 x 2 (prior), LoRA 500 x 1, pivotal tuning 1000 x 1, Custom
    # Diffusion 250 x 2 x 2 (prior); two concepts.
    assert _total(work, "train") == 2 * (12000 + 1600 + 500 + 1000 + 1000)
    # 10 prompts x 5 images per run; the baselines' two seed halves per class (dog, toy robot); 200 class images each.
    assert _total(work, "generate", "images") == 5 * 2 * 10 * 5
    assert _total(work, "baselines", "images") == 2 * 10 * 5 * 2
    assert _total(work, "class_images", "images") == 2 * 200
    assert _total(work, "class_images") == 2 * 200 * 50 and _total(work, "generate") == 500 * 50
    assert _total(work, "features_images", "images") == 500 and _total(work, "features_targets", "images") == 10


def test_the_sd15_estimate_is_priced_by_the_published_figures_and_says_what_it_leaves_out(tmp_path):
    plan = _preset_plan(tmp_path, "sd15")
    report = cost_report(plan, family_of(plan.base_model_source, tmp_path), "config/sd15.yaml")
    train = 32_200 * SD1.figures["train"].per_unit
    generate = (400 + 500 + 200) * 50 * SD1.figures["generate"].per_unit
    assert f"about {(train + generate) / 3600:.2g} GPU-hours and more: features unknown" in report
    assert "NVIDIA V100 (published figure)" in report and "NVIDIA A100 (published figure)" in report
    assert "https://" in report and "measured figure" not in report


def test_snapshots_and_training_seeds_multiply_the_images(tmp_path):
    plan = Plan({**embedded(), "seeds": [0, 1]}, DEMO.parent.parent)
    work = plan_work(plan)
    assert len(work["train"]) == 2 * 3 * 2
    # Each run: 10 prompts x 5 images, and as many again for its one snapshot (eval_steps).
    assert _total(work, "generate", "images") == 12 * 50 * 2
    report = cost_report(plan, WORLD, "config.yaml")
    assert "textual_inversion      200 final images + 200 of its 1 snapshot(s)" in report


def test_a_stage_without_a_figure_is_unknown_not_guessed(tmp_path):
    plan = _preset_plan(tmp_path, "sdxl")
    assert family_of(plan.base_model_source, tmp_path) is SDXL and "train" not in SDXL.figures
    report = cost_report(plan, SDXL, "config/sdxl.yaml")
    assert "and more: train, features unknown" in report
    assert [line for line in report.splitlines() if line.startswith("  train ")][0].endswith("unknown")


@pytest.mark.parametrize("changes, reason", [
    ({"resolution": 64}, "the builtin:world figures hold at 32 px, and this config generates at 64 px"),
    ({"base_model": "builtin:tiny"}, "no throughput figures for base_model builtin:tiny in conceptbench/cost/throughput.py"),
])
def test_figures_that_do_not_hold_give_no_estimate(changes, reason):
    plan = Plan({**embedded(), **changes}, DEMO.parent.parent)
    report = cost_report(plan, family_of(plan.base_model_source, DEMO.parent.parent), "config.yaml")
    assert f"estimate: none ({reason})" in report and "hours" not in report


def test_gpu_figures_price_no_cpu_run(tmp_path):
    plan = _preset_plan(tmp_path, "sd15", device="cpu")
    assert "this config's device is cpu" in cost_report(plan, SD1, "config/sd15.yaml")


def test_a_local_model_is_known_by_its_model_index(tmp_path):
    (tmp_path / "my-sdxl").mkdir()
    (tmp_path / "my-sdxl" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert family_of("my-sdxl", tmp_path) is SDXL
    assert family_of("someone/unknown-model", tmp_path) is None


def test_the_command_prints_the_cost(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(DEMO.parent.parent)  # paths in config.yaml are relative to the repository root
    assert main(["config.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cost of config.yaml: base model builtin:world")
    assert "  total                  47" in out and "CPU-hours" in out


def test_a_bad_config_is_refused_with_the_workflows_message(tmp_path, capsys):
    raw = embedded()
    raw["resolution"] = 20
    path = write_config_file(tmp_path, raw)
    assert main([str(path), str(DEMO.parent.parent)]) == 1
    err = capsys.readouterr().err
    # rules/common.smk's start-up message: the file to fix, then the problem with its key.
    assert err.startswith(f"config problem (fix it in {path}):\n") and "resolution: 20 is not a multiple of 8" in err
