"""Where a finished run's time went: per rule, the jobs' start-up (process start to first useful work) and work.

    python bench/dag.py [RUN_DIR]          # RUN_DIR holds logs/ and benchmarks/ of a finished run (default: .)

Start-up comes from the line every job logs when it starts (conceptbench.jobs.start_job: "... N s after the process
started"); the job's wall time from its Snakemake benchmark file; work is the difference. A job retried after a
failure counts its last attempt.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

START = re.compile(r"=== \S+ rule (?P<rule>\w+) .* (?P<startup>[0-9.]+) s after the process started")


def job_times(run_dir: Path) -> list[dict]:
    """One record per job: rule, log path, start-up seconds, wall seconds (from the benchmark), work seconds."""
    jobs = []
    for benchmark in sorted((run_dir / "benchmarks").rglob("*.tsv")):
        relative = benchmark.relative_to(run_dir / "benchmarks").with_suffix(".log")
        log = run_dir / "logs" / relative
        starts = START.findall(log.read_text(errors="replace")) if log.is_file() else []
        with open(benchmark, newline="") as handle:
            wall = float(next(csv.DictReader(handle, delimiter="\t"))["s"])
        if not starts:  # a job that logs no start line (should not happen): count it all as work
            jobs.append({"rule": relative.parts[0], "job": str(relative), "startup": 0.0, "wall": wall, "work": wall})
            continue
        rule, startup = starts[-1][0], float(starts[-1][1])
        jobs.append({"rule": rule, "job": str(relative), "startup": startup, "wall": wall,
                     "work": max(wall - startup, 0.0)})
    return jobs


def summary_table(jobs: list[dict]) -> str:
    by_rule = defaultdict(list)
    for job in jobs:
        by_rule[job["rule"]].append(job)
    lines = [f"{'rule':<20} {'jobs':>4} {'start-up/job':>13} {'work/job':>9} {'max start-up':>13} {'total':>8}"]
    for rule, group in sorted(by_rule.items(), key=lambda item: -sum(j["wall"] for j in item[1])):
        n = len(group)
        lines.append(f"{rule:<20} {n:>4} {sum(j['startup'] for j in group) / n:>12.2f}s "
                     f"{sum(j['work'] for j in group) / n:>8.2f}s {max(j['startup'] for j in group):>12.2f}s "
                     f"{sum(j['wall'] for j in group):>7.1f}s")
    startup, work = sum(j["startup"] for j in jobs), sum(j["work"] for j in jobs)
    lines.append(f"{'all jobs':<20} {len(jobs):>4}   start-up {startup:.1f} s + work {work:.1f} s = "
                 f"{startup + work:.1f} s of job time")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("."), help="folder with logs/ and benchmarks/")
    args = parser.parse_args(argv)
    jobs = job_times(args.run_dir)
    if not jobs:
        parser.error(f"no benchmark files under {args.run_dir / 'benchmarks'}: run the workflow there first")
    print(summary_table(jobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
