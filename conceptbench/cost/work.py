"""What each job of a plan does, in the units the throughput table is written in.

Every count comes from the Plan the rules read (its jobs, image sets and seeds), so the cost and the run cannot
disagree about what will be made.
"""

from __future__ import annotations

from dataclasses import dataclass

from conceptbench.runs import split_name
from conceptbench.workflow.plan import Plan


@dataclass(frozen=True)
class Work:
    """One job: the stage whose throughput figure prices it (train, generate, features, other; none for rule all),
    its units of work (training samples, images x denoising steps, images embedded) and the images it makes or
    embeds."""

    stage: str
    units: int = 0
    images: int = 0


def entry_runs(plan: Plan, entry: str) -> list[str]:
    """A method entry's runs: one per training seed (`lora`, `lora@seed1`, ...)."""
    return [run for run in plan.methods if split_name(run)[0] == entry]


def samples_per_step(plan: Plan, run: str) -> int:
    """Images through the UNet per training step: the batch, twice over with class-prior preservation (the
    training loop appends as many class images as instance images)."""
    return plan.methods[run]["batch_size"] * (2 if plan.uses_prior(run) else 1)


def training_samples(plan: Plan, run: str) -> int:
    return plan.methods[run]["steps"] * samples_per_step(plan, run)


def final_images(plan: Plan, concept: str, run: str) -> int:
    return sum(len(seeds) for _, _, seeds in plan.method_sets(concept, run))


def snapshot_images(plan: Plan, concept: str, run: str) -> int:
    return sum(len(seeds) for _, sets in plan.snapshot_sets(concept, run) for _, _, seeds in sets)


def run_images(plan: Plan, concept: str, run: str) -> int:
    """A generate job's images: the final artifact's and every snapshot's (one job makes both)."""
    return final_images(plan, concept, run) + snapshot_images(plan, concept, run)


def baseline_images(plan: Plan, cls: str) -> int:
    return sum(len(seeds) for _, _, seeds in plan.baseline_sets(cls))


def world_quality_images(plan: Plan) -> int:
    from conceptbench.world_models.quality import quality_captions

    return len(quality_captions()) * plan.cfg["world_quality"]["images_per_caption"]


def job_work(plan: Plan, rule: str, wildcards: dict[str, str]) -> Work:
    """What one job of `rule` with `wildcards` (an entry of Plan.jobs()) does."""
    steps, prior = plan.cfg["generation"]["steps"], plan.cfg["prior"]
    if rule == "train":
        return Work("train", training_samples(plan, wildcards["method"]))
    if rule == "class_images":
        return Work("generate", prior["num_images"] * prior["steps"], prior["num_images"])
    if rule == "generate":
        images = run_images(plan, wildcards["concept"], wildcards["method"])
        return Work("generate", images * steps, images)
    if rule == "baselines":
        images = baseline_images(plan, wildcards["cls"])
        return Work("generate", images * steps, images)
    if rule == "world_quality":
        images = world_quality_images(plan)
        return Work("generate", images * steps, images)
    if rule == "features_targets":
        photos = len(plan.concept_files(wildcards["concept"]))
        return Work("features", photos, photos)
    if rule == "features_images":
        images = run_images(plan, wildcards["concept"], wildcards["method"])
        return Work("features", images, images)
    if rule == "features_baselines":
        images = baseline_images(plan, wildcards["cls"])
        return Work("features", images, images)
    if rule == "all":
        return Work("none")  # Snakemake's target rule: a job in the plan that runs nothing
    return Work("other")  # scores, tables, plots, photos: priced per job


def plan_work(plan: Plan) -> dict[str, list[Work]]:
    """Rule -> the work of each of its jobs, in Plan.jobs() order."""
    return {rule: [job_work(plan, rule, wildcards) for wildcards in listed] for rule, listed in plan.jobs().items()}
