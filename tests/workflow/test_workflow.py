"""The whole workflow on the tiny model: outputs, logs, up-to-dateness, report, determinism, atomic image sets.

Budget (2 cores): one full default run (shared with tests/workflow/test_incremental.py), one from-scratch run of a
part of the default (one concept, two methods) whose outputs must equal the default run's bit for bit, and single
generate jobs for the regeneration and kill tests.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from workflow_helpers import (  # noqa: F401  (finished_default_run is a fixture)
    REPO,
    TINY_ONLY_RULES,
    copy_workflow,
    default_config,
    dry_run,
    file_digests,
    finished_default_run,
    mtimes,
    resolved_config,
    say,
    snakemake,
    start_snakemake,
    wait_for,
)

from conceptbench.files import AtomicFolder
from conceptbench.inputs.prompts import prompt_ids

pytestmark = pytest.mark.workflow

ARTIFACT = {"textual_inversion": "learned_embeds.safetensors", "lora": "pytorch_lora_weights.safetensors",
            "dreambooth": "unet/diffusion_pytorch_model.safetensors"}
TIMESTAMP = ".snakemake_timestamp"  # Snakemake's marker inside directory outputs


class Layout:
    """What a finished run must contain, derived from its config.yaml."""

    def __init__(self, workdir):
        cfg = resolved_config(workdir)
        self.root = workdir / "results"
        self.concepts = cfg["_concepts"]
        self.methods = cfg["methods"]
        self.classes = sorted({c.class_slug for c in self.concepts.values()})
        self.prompt_ids = list(prompt_ids(cfg["prompts"]["image"], cfg["prompts"]["context"]))
        self.num_images = cfg["generation"]["num_images"]
        self.metrics = cfg["metrics"]
        self.extractors = sorted({m.rsplit("_", 1)[1] for m in self.metrics})
        self.image_names = {f"{i:03d}.png" for i in range(self.num_images)}

    def check_image_set(self, folder, sub_sets=("",), extra=()):
        """`folder` holds exactly one sub-folder per prompt id (each with `sub_sets`), each with the images, and
        the `extra` entries."""
        assert folder.is_dir(), f"{folder} is missing"
        assert sorted(p.name for p in folder.iterdir() if p.name != TIMESTAMP) == sorted([*self.prompt_ids, *extra])
        for pid in self.prompt_ids:
            for sub in sub_sets:
                images = {p.name for p in (folder / pid / sub).iterdir()}
                assert images == self.image_names, f"{folder / pid / sub}: {sorted(images)}"


def digests_of_results(workdir) -> dict[str, str]:
    """Every output that must be bitwise reproducible: tables, images, weights, losses (not timings/metadata)."""
    results = workdir / "results"
    digests = {}
    for pattern in ("summary/metrics.csv", "summary/world_quality.csv", "metrics/**/*.csv", "images/**/*.png",
                    "baselines/**/*.png", "class_images/**/*.png", "targets/**/*.png", "checkpoints/**/*.safetensors",
                    "checkpoints/**/loss.csv"):
        digests.update(file_digests(results, pattern))
    return digests


# ---- the full default run -------------------------------------------------------------------------------------


def test_every_expected_output_exists(finished_default_run):
    workdir = finished_default_run.workdir
    layout, results = Layout(workdir), workdir / "results"
    assert len(layout.concepts) == 2 and len(layout.methods) == 3 and len(layout.prompt_ids) == 10

    for concept in layout.concepts:
        for method, params in layout.methods.items():
            checkpoint = results / "checkpoints" / concept / method
            for name in (ARTIFACT[params["type"]], "loss.csv", "metadata.json"):
                assert (checkpoint / name).is_file() and (checkpoint / name).stat().st_size > 0, checkpoint / name
            # Every method of the default has eval_steps: a snapshot artifact and its images per step.
            steps = params["eval_steps"]
            assert steps and sorted(p.name for p in (checkpoint / "snapshots").iterdir()) == sorted(
                f"step{s}" for s in steps)
            for step in steps:
                artifact = checkpoint / "snapshots" / f"step{step}" / ARTIFACT[params["type"]]
                assert artifact.is_file() and artifact.stat().st_size > 0, artifact
                layout.check_image_set(results / "images" / concept / method / "snapshots" / f"step{step}")
            layout.check_image_set(results / "images" / concept / method, extra=["snapshots"])
    for cls in layout.classes:
        layout.check_image_set(results / "baselines" / cls, sub_sets=("a", "b"))

    features = results / "features"
    expected_features = [features / "clip" / "text" / f"{cls}.safetensors" for cls in layout.classes]
    for e in layout.extractors:
        expected_features += [features / e / "targets" / f"{c}.safetensors" for c in layout.concepts]
        expected_features += [features / e / "baselines" / f"{cls}.safetensors" for cls in layout.classes]
        expected_features += [features / e / "images" / c / f"{m}.safetensors"
                              for c in layout.concepts for m in layout.methods]
    assert sorted(features.rglob("*.safetensors")) == sorted(expected_features)

    summary = results / "summary"
    for name in ["metrics.csv", "metrics.md", "world_quality.md", "world_quality.csv",
                 "summary.csv", "comparisons.csv",
                 *(f"{plot}_{f}.{ext}" for plot in ("similarity", "tradeoff") for f in ("clip", "fid", "kid")
                   for ext in ("png", "svg"))]:
        assert (summary / name).stat().st_size > 0, name
    for name in ("metrics.md", "world_quality.md"):
        assert "world" in (summary / name).read_text(), f"{name} does not say its numbers come from the world"
    assert sorted(p.name for p in (summary / "grids").iterdir()) == sorted(f"{c}.png" for c in layout.concepts)
    assert not list(results.rglob("*.partial")), "a half-written folder was left behind"


def test_metrics_table_has_every_concept_method_and_metric(finished_default_run):
    layout = Layout(finished_default_run.workdir)
    table = pd.read_csv(finished_default_run.workdir / "results" / "summary" / "metrics.csv")
    assert list(table.columns) == ["concept", "method", "metric", "value", "n", "ci_low", "ci_high", "base_model"]
    assert set(table.base_model) == {"builtin:world"}
    rows = set(zip(table.concept, table.method, table.metric))
    snapshots = [f"{m}@step{s}" for m, params in layout.methods.items() for s in params["eval_steps"]]
    expected = {(c, m, metric) for c in layout.concepts
                for m in [*layout.methods, *snapshots, "base_model", "reference"] for metric in layout.metrics}
    assert rows == expected, f"missing {sorted(expected - rows)}, unexpected {sorted(rows - expected)}"
    assert len(table) == len(expected), "duplicate rows"
    assert all(math.isfinite(v) for v in table.value)
    # No value outside its own interval. The per-image metrics (means) have one; FID and KID (one statistic of a
    # set) and the reference's photos-against-themselves rows have none.
    no_interval = (table.metric.str.contains("_fid_|_kid_")
                   | ((table.method == "reference") & table.metric.str.startswith(("image_", "subject_"))))
    assert table[no_interval].ci_low.isna().all() and table[no_interval].ci_high.isna().all()
    generated = table[~no_interval]
    assert ((generated.ci_low <= generated.value + 1e-12) & (generated.value <= generated.ci_high + 1e-12)).all()
    summary = pd.read_csv(finished_default_run.workdir / "results" / "summary" / "summary.csv")
    assert summary["concepts"].eq(2).all() and summary["ci_low"].isna().all()  # 2 concepts: no interval
    assert summary["note"].eq("n = 2 concepts: no interval or test (at least 3 needed)").all()
    comparisons = pd.read_csv(finished_default_run.workdir / "results" / "summary" / "comparisons.csv")
    assert set(comparisons["unit"]) == {"concept"} and comparisons["p_value"].isna().all()
    assert {b for b in comparisons["method_b"]} >= {"base_model"}  # every method's gain over the base model
    assert (table.n > 0).all()
    markdown = (finished_default_run.workdir / "results" / "summary" / "metrics.md").read_text()
    for method in [*layout.methods, "base_model", "reference"]:
        assert f"| {method} |" in markdown


README_RESULTS = ("<!-- the default run's results: python -m conceptbench.report.readme results/summary -->",
                  "<!-- end of the default run's results -->")


def test_the_readmes_results_are_what_the_default_run_produces(finished_default_run):
    """The README's table of the default run is printed from a run's results/summary/, and this run's (on the CI
    machine, from scratch) prints the same."""
    from conceptbench.report.readme import readme_tables

    text = (REPO / "README.md").read_text()
    start, end = README_RESULTS
    assert text.count(start) == 1 and text.count(end) == 1, "the README's results block is missing its markers"
    block = text.split(start)[1].split(end)[0].strip()
    assert block == readme_tables(finished_default_run.workdir / "results" / "summary").strip()


def test_every_job_left_a_log_and_a_benchmark(finished_default_run):
    workdir, jobs = finished_default_run.workdir, finished_default_run.run.jobs.jobs
    rules = snakemake(workdir, "--list-rules", timeout=120).check().stdout.split()
    assert {job.rule for job in jobs} == set(rules) - set(TINY_ONLY_RULES), \
        "every rule but the builtin:tiny builders (see test_plumbing_preset_runs) should have run by default"
    for job in jobs:
        if job.rule == "all":
            continue
        log, benchmark = job.get("log"), job.get("benchmark")
        assert log and benchmark, f"{job.label()} declares no log or no benchmark"
        assert (workdir / log).is_file(), f"{job.label()}: no log {log}"
        assert (workdir / log).stat().st_size > 0, f"{job.label()}: empty log {log}"
        lines = (workdir / benchmark).read_text().splitlines()
        assert len(lines) == 2 and lines[0].startswith("s\t"), f"{job.label()}: bad benchmark {benchmark}"


def test_nothing_reruns_when_nothing_changed(finished_default_run):
    workdir = finished_default_run.workdir
    plan = dry_run(workdir)
    assert plan.nothing_to_do and not plan.jobs, plan.details()

    before = mtimes(workdir / "results")
    again = snakemake(workdir).check()
    assert "Nothing to be done" in again.output and not again.jobs.jobs, again.jobs.details()
    assert mtimes(workdir / "results") == before, "a re-run with nothing changed touched results/"


def test_report_is_a_nonempty_html_file(finished_default_run, tmp_path):
    workdir = finished_default_run.workdir
    out = tmp_path / "report.html"
    snakemake(workdir, "--report", str(out), timeout=300).check()
    html = out.read_text(errors="replace")
    assert out.stat().st_size > 100_000, f"report is only {out.stat().st_size} bytes"
    assert html.lstrip().lower().startswith("<!doctype html") and html.rstrip().endswith("</html>")
    for name in ("metrics.csv", "summary.csv", "comparisons.csv", "metrics.md", "similarity_clip.png",
                 "similarity_fid.png", "blue_dog.png"):
        assert name in html, f"{name} is not in the report"


# ---- a second from-scratch run: a part of the default --------------------------------------------------------

REDUCED_CONCEPT = "blue_dog"
REDUCED_METHODS = ("dreambooth",)  # a full model trained with class images; Textual Inversion's and LoRA's
# determinism is tests/unit/methods/test_resume.py's (bitwise the same weights after a kill as without one)
SUMMARY_TABLES = ("metrics.csv", "summary.csv", "comparisons.csv", "metrics.md")


def reduced_config() -> dict:
    """The default config with its dreambooth entry only (the run also drops cyan_robot): every job of this run is a
    job of the default run with the same inputs, so its outputs must be the default run's, bit for bit. Its jobs
    start cold, the default run's warm (conceptbench/warm.py): so the comparison also proves that a warm start
    computes the same bytes."""
    cfg = default_config()
    cfg["methods"] = {name: cfg["methods"][name] for name in REDUCED_METHODS}
    cfg["warm_start"] = False
    return cfg


def started_warm(workdir) -> dict[bool, int]:
    """How many of a run's torch jobs (training, generation, features) started warm and how many cold."""
    counts = {True: 0, False: 0}
    for log in (Path(workdir) / "logs").rglob("*.log"):
        first = log.read_text().splitlines()[:1]
        if first and re.search(r"rule (train|generate|baselines|class_images|features_\w+) ", first[0]):
            counts["(a warm start: forked from pid" in first[0]] += 1
    return counts


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory, pytestconfig):
    """A from-scratch run of the reduced config, with the digests of its outputs right after."""
    workdir = copy_workflow(tmp_path_factory.mktemp("reduced") / "workflow", reduced_config())
    for other in (workdir / "data" / "demo").iterdir():
        if other.name != REDUCED_CONCEPT:
            shutil.rmtree(other)
    start = time.monotonic()
    run = snakemake(workdir).check()
    say(pytestconfig, f"\n  [reduced workflow] {len(run.jobs.jobs)} jobs in {time.monotonic() - start:.0f} s")
    return workdir, digests_of_results(workdir)


def test_two_runs_from_scratch_give_identical_results(reduced_run, finished_default_run):
    workdir, digests = reduced_run
    default = digests_of_results(finished_default_run.workdir)
    assert started_warm(finished_default_run.workdir)[False] == 0 and started_warm(workdir)[True] == 0
    assert started_warm(finished_default_run.workdir)[True] > 0 and started_warm(workdir)[False] > 0
    # The summary tables cover other concepts and methods in the default run; everything else is shared.
    shared = sorted(k for k in digests if k != "summary/metrics.csv")
    assert not set(shared) - default.keys(), f"not made by the default run: {sorted(set(shared) - default.keys())}"
    for kind in ("images", "baselines", "class_images", "checkpoints", "metrics", "summary/world_quality.csv"):
        assert any(k.startswith(kind) for k in shared), f"no {kind} output to compare"
    differing = [k for k in shared if digests[k] != default[k]]
    if any(k.startswith("metrics/") for k in differing):
        path = next(k for k in differing if k.startswith("metrics/"))
        merged = pd.read_csv(workdir / "results" / path).merge(
            pd.read_csv(finished_default_run.workdir / "results" / path), on=["concept", "method", "metric"])
        pytest.fail(f"{path} differs between two runs from scratch:\n"
                    f"{merged[merged.value_x != merged.value_y].to_string()}")
    assert not differing, f"{len(differing)} of {len(shared)} outputs differ, e.g. {differing[:10]}"

    # The summaries: the same table again from the same inputs, in a new process.
    summary = workdir / "results" / "summary"
    before = {name: (summary / name).read_bytes() for name in SUMMARY_TABLES}
    runs = sum(1 + len(default_config()["methods"][m]["eval_steps"]) for m in REDUCED_METHODS)  # and snapshots
    # Every run's rows, the reference's and the untrained base model's.
    assert len(before["metrics.csv"].splitlines()) == 1 + (runs + 2) * len(default_config()["metrics"])
    snakemake(workdir, "results/summary/metrics.csv", "--forcerun", "aggregate").check()
    assert {name: (summary / name).read_bytes() for name in SUMMARY_TABLES} == before


def test_regenerating_an_image_set_is_bitwise_identical(reduced_run):
    workdir, digests = reduced_run
    target = f"results/images/{REDUCED_CONCEPT}/dreambooth"
    run = snakemake(workdir, target, "--forcerun", "generate").check()
    assert [job.label() for job in run.jobs.jobs] == [f"generate(concept={REDUCED_CONCEPT}, method=dreambooth)"]
    images = {k: v for k, v in digests.items() if k.startswith(f"images/{REDUCED_CONCEPT}/dreambooth/")}
    layout = Layout(workdir)
    snapshots = len(layout.methods["dreambooth"]["eval_steps"])  # their images come from the same job
    assert len(images) == len(layout.prompt_ids) * layout.num_images * (1 + snapshots)
    assert file_digests(workdir / "results", f"images/{REDUCED_CONCEPT}/dreambooth/**/*.png") == images


# ---- a generation killed mid-way --------------------------------------------------------------------------------


def test_atomic_folder_leaves_nothing_behind_on_error(tmp_path):
    final = tmp_path / "images" / "c" / "m"
    with pytest.raises(RuntimeError):
        with AtomicFolder(final) as partial:
            (partial / "plain").mkdir()
            (partial / "plain" / "000.png").write_bytes(b"half")
            raise RuntimeError("killed mid-way")
    assert not final.exists() and not final.with_name("m.partial").exists()

    with AtomicFolder(final) as partial:  # a complete set appears under its final name at once
        (partial / "000.png").write_bytes(b"complete")
    assert (final / "000.png").read_bytes() == b"complete" and not final.with_name("m.partial").exists()

    with pytest.raises(RuntimeError):  # a failed redo keeps the previous complete set untouched
        with AtomicFolder(final) as partial:
            (partial / "000.png").write_bytes(b"half")
            raise RuntimeError("killed mid-way")
    assert (final / "000.png").read_bytes() == b"complete" and not final.with_name("m.partial").exists()


def test_killed_generation_leaves_no_half_written_set(reduced_run, pytestconfig):
    """SIGKILL Snakemake and its generate job while it generates the set; a re-run completes the set, bitwise."""
    workdir, digests = reduced_run
    method = "dreambooth"
    target = f"results/images/{REDUCED_CONCEPT}/{method}"
    final, partial = workdir / target, workdir / f"{target}.partial"
    shutil.rmtree(final)  # the checkpoints exist, this image set does not yet

    process = start_snakemake(workdir, target)
    try:
        # The job makes <set>.partial before its first batch and writes each batch's images into it as they are
        # made, so the folder is the sign of work in progress (tests/unit/diffusion/test_resume_generation.py checks
        # that a re-run keeps them).
        waited = wait_for(lambda: partial.is_dir() or process.poll() is not None, timeout=300,
                          what=f"{partial} to appear")
        assert process.poll() is None, "generation ended before it could be killed; see background_snakemake.log"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    say(pytestconfig, f"\n  [kill] SIGKILL to snakemake and its generate job {waited:.1f} s after start, with "
                      f"{len(list(partial.rglob('*.png')))} image(s) in {partial.name}")

    assert partial.is_dir(), "the kill should have left the work in progress under .partial"
    # Snakemake's lock survives a SIGKILL; a user runs --unlock, then Snakemake decides what is stale.
    snakemake(workdir, "--unlock", timeout=120).check()
    plan = dry_run(workdir, target)
    assert [job.label() for job in plan.jobs] == [f"generate(concept={REDUCED_CONCEPT}, method={method})"], \
        plan.details()
    reason = plan.jobs[0].reason
    if final.exists():
        assert "Incomplete" in reason, f"{final} exists after the kill and is not flagged incomplete: {reason}"
    else:
        assert "Missing output files" in reason, reason
    say(pytestconfig, f"  [kill] then {target} {'exists' if final.exists() else 'does not exist'}; "
                      f"Snakemake's reason to re-run: {reason}")

    snakemake(workdir, target).check()  # the default profile sets rerun-incomplete
    Layout(workdir).check_image_set(final, extra=["snapshots"])
    assert not partial.exists()
    prefix = f"images/{REDUCED_CONCEPT}/{method}/"
    assert file_digests(workdir / "results", f"{prefix}**/*.png") == {k: v for k, v in digests.items()
                                                                      if k.startswith(prefix)}


# ---- the plumbing preset: the builtin:tiny builders -------------------------------------------------------------


def test_plumbing_preset_runs(tmp_path):
    """config/plumbing.yaml (random builtin:tiny models, built by the workflow) on one concept and prompt, with the
    methods the default lacks: pivotal tuning (with a snapshot of fewer images: generation.snapshot_images) and
    Custom Diffusion (with its class images)."""
    import yaml

    workdir = copy_workflow(tmp_path / "workflow")
    preset = yaml.safe_load((workdir / "config" / "plumbing.yaml").read_text())
    lora = preset["methods"]["lora"]
    preset["methods"] = {
        "pivotal_tuning": {"type": "pivotal_tuning", "steps": lora["steps"], "batch_size": lora["batch_size"],
                           "learning_rate": lora["learning_rate"], "checkpoint_every": 20, "eval_steps": [20]},
        "custom_diffusion": {"type": "custom_diffusion", "steps": 20, "learning_rate": 1.0e-4,
                             "checkpoint_every": 10},
    }
    preset["prompts"]["context"] = preset["prompts"]["context"][:1]
    preset["generation"]["snapshot_images"] = 2
    shutil.rmtree(workdir / "data" / "demo" / "cyan_robot")
    (workdir / "plumbing.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
    run = snakemake(workdir, "--configfile", "plumbing.yaml").check()
    assert set(TINY_ONLY_RULES) <= set(run.jobs.counts), run.jobs.summary()
    assert run.jobs.counts["train"] == 2 and run.jobs.counts["class_images"] == 1, run.jobs.summary()
    summary = workdir / "results" / "summary"
    assert "mean nothing" in (summary / "metrics.md").read_text()
    assert not (summary / "world_quality.md").exists()
    methods = set(pd.read_csv(summary / "metrics.csv")["method"])
    assert {"pivotal_tuning", "pivotal_tuning@step20", "custom_diffusion"} <= methods, methods
    checkpoints = workdir / "results" / "checkpoints" / "blue_dog"
    assert (checkpoints / "custom_diffusion" / "pytorch_custom_diffusion_weights.safetensors").is_file()
    assert (checkpoints / "pivotal_tuning" / "snapshots" / "step20" / "learned_embeds.safetensors").is_file()
    # The snapshot's sets hold the first 2 seeds' images of the final 5, and are scored on the per-image metrics
    # only: their FID and KID at another n would not compare with the final's, so only the CLIP trade-off is drawn.
    images = workdir / "results" / "images" / "blue_dog" / "pivotal_tuning"
    for prompt in (p.name for p in images.iterdir() if p.is_dir() and p.name != "snapshots"):
        final = sorted(f.name for f in (images / prompt).iterdir())
        assert len(final) == preset["generation"]["num_images"]
        assert sorted(f.name for f in (images / "snapshots" / "step20" / prompt).iterdir()) == final[:2]
    table = pd.read_csv(summary / "metrics.csv")
    snapshot_metrics = set(table.loc[table["method"] == "pivotal_tuning@step20", "metric"])
    assert snapshot_metrics == {m for m in preset["metrics"] if "fid" not in m and "kid" not in m}, snapshot_metrics
    assert set(table.loc[table["method"] == "pivotal_tuning", "metric"]) == set(preset["metrics"])
    assert (summary / "tradeoff_clip.png").is_file() and not list(summary.glob("tradeoff_[fk]id.*"))
