"""The cost of a plan as text: jobs and work per rule, training per method entry, images per stage, the hours.

Hours are priced from conceptbench.cost.throughput: per job, start-up (where the table has it) plus seconds per
unit x units. A stage without a figure is "unknown", and the total then says what it leaves out.
"""

from __future__ import annotations

import textwrap

from conceptbench.cost.throughput import STAGES, Family
from conceptbench.cost.work import (
    Work,
    baseline_images,
    entry_runs,
    final_images,
    plan_work,
    samples_per_step,
    snapshot_images,
)
from conceptbench.workflow.plan import Plan

# The stages that hold a GPU when the config's device is cuda (their rules request one); the rest run on CPUs.
GPU_STAGES = ("train", "generate", "features")
PER = {"train": "training sample", "generate": "image denoising step", "features": "image embedded"}
WIDTH = 116  # the long lines (sources, notes) wrap, indented under their start


def wrapped(text: str, indent: str = "      ") -> str:
    return textwrap.fill(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


def job_seconds(work: Work, family: Family | None) -> float | None:
    if work.stage == "none":
        return 0.0
    figure = family.figures.get(work.stage) if family else None
    if figure is None or figure.per_unit is None:
        return None
    return (figure.per_job or 0.0) + figure.per_unit * work.units


def priced_stages(plan: Plan, family: Family | None) -> tuple[list[str], str | None]:
    """The stages whose time the hours count, and why there is no estimate at all (None: there is one)."""
    if family is None:
        return [], f"no throughput figures for base_model {plan.base_model_source} in conceptbench/cost/throughput.py"
    if plan.resolution != family.resolution:
        return [], (f"the {family.name} figures hold at {family.resolution} px, and this config generates at "
                    f"{plan.resolution} px")
    if family.hardware == "GPU":
        if plan.device != "cuda":
            return [], f"the {family.name} figures are for a GPU, and this config's device is {plan.device}"
        return list(GPU_STAGES), None
    return list(STAGES), None


def hours(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def work_text(jobs: list[Work]) -> str:
    """A rule's work in words: its training samples, or its images (and their denoising steps)."""
    stage, units, images = jobs[0].stage, sum(job.units for job in jobs), sum(job.images for job in jobs)
    if stage == "train":
        return f"{units:,} training samples"
    if stage == "generate":
        return f"{images:,} images x {units // images} steps"
    return f"{images:,} images" if stage == "features" else ""


def rule_table(work: dict[str, list[Work]], family: Family | None, stages: list[str]) -> list[str]:
    lines = [f"  {'rule':<19} {'jobs':>5}  {'work':<38} {'estimate':>10}"]
    for rule, jobs in work.items():
        stage, what = jobs[0].stage, work_text(jobs)
        seconds = [job_seconds(job, family) for job in jobs]
        estimate = ("-" if stage not in stages else "unknown" if None in seconds else hours(sum(seconds)))
        lines.append(f"  {rule:<19} {len(jobs):>5}  {what:<38} {estimate:>10}")
    lines.append(f"  {'total':<19} {sum(len(jobs) for jobs in work.values()):>5}")
    return lines


def training_table(plan: Plan) -> list[str]:
    lines = [f"  {'method entry':<19} {'type':<18} {'steps x batch':>13} {'prior':>5} {'samples/run':>11} "
             f"{'runs':>5} {'samples':>9}"]
    for entry, params in plan.entries.items():
        runs = entry_runs(plan, entry)
        per_run = params["steps"] * samples_per_step(plan, entry)
        count = len(runs) * len(plan.concepts)
        lines.append(f"  {entry:<19} {params['type']:<18} {params['steps']:>6} x {params['batch_size']:<4} "
                     f"{'x2' if plan.uses_prior(entry) else '':>5} {per_run:>11,} {count:>5} {per_run * count:>9,}")
    seeds = len(plan.methods) // len(plan.entries)
    lines.append(wrapped(f"  runs = {len(plan.concepts)} concepts x {seeds} training seed{'s' if seeds > 1 else ''}; "
                         "prior x2: the class images train beside the instance images, one each per sample", "    "))
    return lines


def image_table(plan: Plan) -> list[str]:
    prior = plan.cfg["prior"]
    steps = plan.cfg["generation"]["steps"]
    prior_classes = len(plan.jobs().get("class_images", []))  # the classes of concepts a prior method trains on
    lines = [f"  class images (prior):  {prior_classes} classes x {prior['num_images']} = "
             f"{prior_classes * prior['num_images']:,} images at {prior['steps']} steps"]
    baselines = sum(baseline_images(plan, cls) for cls in plan.classes)
    lines.append(f"  baselines (base model): {baselines:,} images at {steps} steps ({len(plan.classes)} classes, "
                 "two seed halves)")
    for entry in plan.entries:
        runs = entry_runs(plan, entry)
        final = sum(final_images(plan, c, run) for c in plan.concepts for run in runs)
        snapshots = sum(snapshot_images(plan, c, run) for c in plan.concepts for run in runs)
        lines.append(f"  {entry:<22} {final:,} final images" + (
            f" + {snapshots:,} of its {len(plan.eval_steps(entry))} snapshot(s)" if snapshots else "")
            + f" at {steps} steps")
    return lines


def stage_seconds(work: dict[str, list[Work]], family: Family, stages: list[str]) -> dict[str, float | None]:
    """Seconds per priced stage over all jobs; None for a stage without a figure."""
    totals: dict[str, float | None] = {}
    for job in (job for jobs in work.values() for job in jobs if job.stage in stages):
        seconds, known = job_seconds(job, family), totals.get(job.stage, 0.0)
        totals[job.stage] = None if seconds is None or known is None else known + seconds
    return totals


def estimate_lines(work: dict[str, list[Work]], family: Family | None, stages: list[str],
                   reason: str | None) -> list[str]:
    if reason:
        return [f"estimate: none ({reason})"]
    totals = stage_seconds(work, family, stages)
    known = {stage: s for stage, s in totals.items() if s is not None}
    unknown = [stage for stage, s in totals.items() if s is None]
    total = sum(known.values()) / 3600
    lines = [f"estimate: about {total:.2g} {family.hardware}-hours" + (
        f" and more: {', '.join(unknown)} unknown (no figure)" if unknown else "")]
    for stage in STAGES:
        if stage in known:
            figure = family.figures[stage]
            lines.append(f"  {stage:<9} {hours(known[stage]):>9} on {figure.device} ({figure.kind} figure)")
        elif stage in unknown:
            lines.append(f"  {stage:<9} {'unknown':>9}: no measured or published {family.name} figure")
    if family.hardware == "GPU":
        lines.append(wrapped("  not counted: job start-up and model loading (no figure) and the CPU-only rules "
                             "(scores, tables, plots); the figures are batch-1 latencies on the GPUs named, not on "
                             "newer ones", "    "))
    return lines


def figure_lines(family: Family, stages: list[str]) -> list[str]:
    lines, sources = [f"throughput figures ({family.name} at {family.resolution} px):"], []
    for stage in STAGES:
        figure = family.figures.get(stage)
        if stage not in stages:
            lines.append(f"  {stage:<9} not priced: its rules run on CPUs")
            continue
        if figure is None:
            lines.append(f"  {stage:<9} unknown")
            continue
        parts = [f"{figure.per_unit:g} s per {PER[stage]}"] if stage != "other" else []
        parts += [f"{figure.per_job:g} s per job"] if figure.per_job is not None else []
        if figure.source not in sources:
            sources.append(figure.source)
        lines.append(f"  {stage:<9} {' + '.join(parts)} on {figure.device} [{sources.index(figure.source) + 1}]")
    return lines + [wrapped(f"  [{n}] {source}") for n, source in enumerate(sources, start=1)]


def cost_report(plan: Plan, family: Family | None, name: str) -> str:
    work = plan_work(plan)
    stages, reason = priced_stages(plan, family)
    where = f"{family.name} figures" if family else "no figures"
    lines = [wrapped(f"cost of {name}: base model {plan.base_model_source} ({where}), {plan.resolution} px, device "
                     f"{plan.device}; {len(plan.concepts)} concepts, {len(plan.entries)} method entries, "
                     f"{len(plan.methods)} runs per concept", "  "),
             "", "jobs per rule (a run from scratch, as snakemake -n plans it):"]
    lines += rule_table(work, family, stages)
    lines += ["", "training per method entry:", *training_table(plan)]
    lines += ["", "images per stage:", *image_table(plan)]
    lines += ["", *estimate_lines(work, family, stages, reason)]
    if not reason:
        lines += figure_lines(family, stages)
    return "\n".join(lines)
