"""The CPU figures of conceptbench/cost/throughput.py, fitted from a finished run's benchmark files.

    python bench/cpu_throughput.py RUN_DIR CONFIG      # RUN_DIR: the run's folder (benchmarks/), CONFIG: its config

Each job's CPU seconds (`cpu_time` of its Snakemake benchmark file: cold start, imports and model loading included)
against its units of work as conceptbench.cost counts them (training samples, images x denoising steps, images
embedded); per stage a least-squares line: seconds per job (the intercept: start-up) and seconds per unit (the
slope). Jobs of no priced stage (scores, tables, plots) give one mean per job.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from conceptbench.config.reading import read_config_file
from conceptbench.cost.work import job_work
from conceptbench.workflow.plan import Plan

WILDCARD_ORDER = ("concept", "method", "cls", "extractor", "family")  # as the rules' benchmark paths nest them


def benchmark_file(run_dir: Path, rule: str, wildcards: dict[str, str]) -> Path:
    """benchmarks/<rule>/<wildcards>.tsv, as rules/*.smk name them (the features rules under features/<group>/)."""
    folder = run_dir / "benchmarks" / rule.replace("features_", "features/")
    parts = [wildcards[key] for key in WILDCARD_ORDER if key in wildcards]
    return Path(folder, *parts[:-1], f"{parts[-1]}.tsv") if parts else folder.with_suffix(".tsv")


def cpu_seconds(path: Path) -> float:
    with open(path, newline="") as handle:
        return float(next(csv.DictReader(handle, delimiter="\t"))["cpu_time"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("config", type=Path)
    args = parser.parse_args(argv)
    plan = Plan(read_config_file(args.config), args.run_dir)
    points: dict[str, list[tuple[int, float]]] = {}
    for rule, listed in plan.jobs().items():
        for wildcards in listed:
            path = benchmark_file(args.run_dir, rule, wildcards)
            if path.is_file():  # rule `all` has none
                work = job_work(plan, rule, wildcards)
                points.setdefault(work.stage, []).append((work.units, cpu_seconds(path)))
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
