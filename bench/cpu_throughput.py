"""The CPU figures of conceptbench/cost/throughput.py, fitted from a finished run's jobs.

    python bench/cpu_throughput.py RUN_DIR CONFIG      # RUN_DIR: the run's folder (logs/, benchmarks/), CONFIG: its config

Each job's CPU seconds against its units of work as conceptbench.cost counts them (training samples, images x
denoising steps, images embedded); per stage a least-squares line: seconds per job (the intercept: start-up) and
seconds per unit (the slope). Jobs of no priced stage (scores, tables, plots) give one mean per job.

A job's CPU seconds are what its log says it used (`used X s of CPU`, conceptbench.jobs: the process that ran the
script, which under a warm start is the worker, without the imports it inherited), or else `cpu_time` of its
Snakemake benchmark file (the job's own process: under a warm start that process only waits, so it is not used).
The figures are then those of the run's kind of start, which the output says.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from conceptbench.config.reading import read_config_file
from conceptbench.cost.work import job_work
from conceptbench.report.study import logged_cpu_seconds
from conceptbench.workflow.plan import Plan

WILDCARD_ORDER = ("concept", "method", "cls", "extractor", "family")  # as the rules' benchmark paths nest them


def job_file(run_dir: Path, folder: str, rule: str, wildcards: dict[str, str], suffix: str) -> Path:
    """<folder>/<rule>/<wildcards><suffix>, as rules/*.smk name a job's benchmark and log (the features rules under
    features/<group>/)."""
    base = run_dir / folder / rule.replace("features_", "features/")
    parts = [wildcards[key] for key in WILDCARD_ORDER if key in wildcards]
    return Path(base, *parts[:-1], f"{parts[-1]}{suffix}") if parts else base.with_suffix(suffix)


WARM = "(a warm start"  # in a job log's first line (conceptbench.jobs.start_job)


def cpu_seconds(run_dir: Path, rule: str, wildcards: dict[str, str]) -> tuple[float, bool] | None:
    """(the job's CPU seconds, whether it started warm), or None for a job without a benchmark file (rule all)."""
    benchmark = job_file(run_dir, "benchmarks", rule, wildcards, ".tsv")
    if not benchmark.is_file():
        return None
    log = job_file(run_dir, "logs", rule, wildcards, ".log")
    text = log.read_text() if log.is_file() else ""
    used = logged_cpu_seconds(text)
    if used:
        return used[-1], WARM in text
    with open(benchmark, newline="") as handle:
        return float(next(csv.DictReader(handle, delimiter="\t"))["cpu_time"]), False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("config", type=Path)
    args = parser.parse_args(argv)
    plan = Plan(read_config_file(args.config), args.run_dir)
    points: dict[str, list[tuple[int, float]]] = {}
    starts = {True: 0, False: 0}
    for rule, listed in plan.jobs().items():
        for wildcards in listed:
            measured = cpu_seconds(args.run_dir, rule, wildcards)
            if measured is not None:
                work = job_work(plan, rule, wildcards)
                points.setdefault(work.stage, []).append((work.units, measured[0]))
                starts[measured[1]] += 1
    print(f"{sum(starts.values())} jobs: {starts[True]} warm starts, {starts[False]} cold")
    for stage, pairs in sorted(points.items()):
        units, seconds = np.array(pairs, dtype=float).T
        if stage == "other" or len(set(units)) < 2:
            print(f"{stage:<9} {len(pairs):>3} jobs: {seconds.mean():.2f} s per job")
            continue
        slope, intercept = np.polyfit(units, seconds, 1)
        residual = seconds - (intercept + slope * units)
        print(f"{stage:<9} {len(pairs):>3} jobs: {intercept:.2f} s per job + {slope:.3g} s per unit "
              f"(units {units.min():.0f}-{units.max():.0f}; residuals within {np.abs(residual).max():.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
