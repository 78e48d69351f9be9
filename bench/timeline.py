"""When a finished run's CPU went to its jobs: per window of the run, the jobs that ended in it and the CPU they
logged, as a share of what the cores could have given.

    python bench/timeline.py [RUN_DIR] [--cores N] [--minutes M]     # RUN_DIR: holds logs/ (default: .)

A job's CPU is what its log says it used (`[HH:MM:SS] used X s of CPU`, conceptbench.jobs), counted in the window
where that line was written; the run starts at the first job attempt's first log line. Where the share is well
under 100% on a machine that ran nothing else, the cores went to what no job logs: Snakemake choosing and starting
jobs, the jobs' own processes (a warm start's worker logs its CPU, the process Snakemake started does not), or
nothing.
Windows are approximate: a long job's CPU all lands where it ended.
"""

from __future__ import annotations

import argparse
import os
import re
from collections import Counter
from datetime import datetime, time, timedelta
from pathlib import Path

LINE = re.compile(r"^\[(\d\d:\d\d:\d\d)\] (.*)$")
ATTEMPT = re.compile(r"=== (\d{4}-\d\d-\d\d) rule ")  # a job attempt's first line names its date
USED = re.compile(r"used ([0-9.]+) s of CPU")


def job_ends(run_dir: Path) -> tuple[list[tuple[datetime, float, str]], datetime | None]:
    """(when it ended, the CPU it logged, its rule) of each job attempt that logged its CPU, and when the first
    attempt started. A log's times carry the date of its attempt's first line, a day later once they pass midnight."""
    ends, first = [], None
    for log in sorted((run_dir / "logs").rglob("*.log")):
        rule = log.relative_to(run_dir / "logs").parts[0].removesuffix(".log")
        last = None
        for line in log.read_text(errors="replace").splitlines():
            match = LINE.match(line)
            if not match:
                continue
            clock, message = match.groups()
            attempt = ATTEMPT.search(message)
            if attempt:
                last = datetime.fromisoformat(f"{attempt[1]}T{clock}")
                first = last if first is None else min(first, last)
                continue
            if last is None:
                continue  # not a job's log (the warm-start server's), or one without its first line
            when = datetime.combine(last.date(), time.fromisoformat(clock))
            last = when if when >= last else when + timedelta(days=1)
            used = USED.match(message)
            if used:
                ends.append((last, float(used[1]), rule))
    return ends, first


def timeline(ends: list[tuple[datetime, float, str]], first: datetime, cores: int, minutes: int) -> str:
    width = minutes * 60
    windows: dict[int, list[tuple[float, str]]] = {}
    for end, cpu, rule in ends:
        windows.setdefault(int((end - first).total_seconds()) // width, []).append((cpu, rule))
    lines = [f"{'minutes':>9} {'jobs':>5} {'logged CPU':>11} {'of the cores':>13}  jobs by rule"]
    for index, jobs in sorted(windows.items()):  # windows where no job ended are left out
        cpu = sum(c for c, _ in jobs)
        rules = ", ".join(f"{rule} {n}" for rule, n in Counter(r for _, r in jobs).most_common())
        lines.append(f"{index * minutes:>4}-{(index + 1) * minutes:<4} {len(jobs):>5} {cpu:>10.0f}s "
                     f"{100 * cpu / (cores * width):>12.1f}%  {rules}")
    total = sum(cpu for _, cpu, _ in ends)
    lines.append(f"all: {len(ends)} job attempts logged {total / 60:.1f} CPU-minutes")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("."), help="folder with logs/")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="the cores the run had (default: here)")
    parser.add_argument("--minutes", type=int, default=10, help="window width (default 10)")
    args = parser.parse_args(argv)
    ends, first = job_ends(args.run_dir)
    if not ends:
        parser.error(f"no job log under {args.run_dir / 'logs'} says what it used: run the workflow there first")
    print(timeline(ends, first, args.cores, args.minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
