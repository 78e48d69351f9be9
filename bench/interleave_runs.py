"""Wall time of two whole workflow runs, side by side: each run on a fresh clone, A and B alternating.

    python bench/interleave_runs.py A_COMMIT B_COMMIT [--a-args ARGS] [--b-args ARGS] [--rounds 3] [--cores 2]

For example, the plumbing preset against the embedded default of the day the performance work started:

    python bench/interleave_runs.py 3f91c5a HEAD --b-args "--configfile config/plumbing.yaml"

Each run clones this repository at its commit into a temporary folder and runs `snakemake --cores N ARGS` there,
with the clone first on PYTHONPATH so that its own `conceptbench` is imported (not the installed one). Runs
alternate (A B A B ...) so that machine noise hits both; the script prints every run's wall time and job count,
then the means and the ratio B/A. Nothing else should run on the machine meanwhile. Arguments that start with one
dash need the `=` form: `--a-args=-n`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_once(commit: str, args: list[str], cores: int, folder: Path) -> tuple[float, int]:
    """Clone at `commit` into `folder`, run the workflow there; returns wall seconds and the number of jobs."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "checkout", "-q", commit], check=True)
    env = {**os.environ, "PYTHONPATH": str(folder)}
    env.pop("SNAKEMAKE_PROFILE", None)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), *args], cwd=folder, env=env,
                          capture_output=True, text=True)
    seconds = time.monotonic() - start
    (folder / "run.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"the run at {commit} failed (exit {done.returncode}); its output is in {folder / 'run.log'}")
    jobs = sum(line.startswith(("rule ", "localrule ")) for line in (done.stdout + done.stderr).splitlines())
    return seconds, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a_commit")
    parser.add_argument("b_commit")
    parser.add_argument("--a-args", default="", help="extra snakemake arguments of run A (one string)")
    parser.add_argument("--b-args", default="", help="extra snakemake arguments of run B (one string)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the clones under this folder (default: deleted)")
    opts = parser.parse_args()

    sides = {"A": (opts.a_commit, shlex.split(opts.a_args)), "B": (opts.b_commit, shlex.split(opts.b_args))}
    times: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="interleave_") as scratch:
        root = opts.keep or Path(scratch)
        for round_ in range(1, opts.rounds + 1):
            for side, (commit, args) in sides.items():
                seconds, jobs = run_once(commit, args, opts.cores, root / f"{side}{round_}")
                times[side].append(seconds)
                print(f"{side}{round_} {commit} {' '.join(args)}: {seconds:.1f} s, {jobs} jobs", flush=True)
    mean_a, mean_b = statistics.mean(times["A"]), statistics.mean(times["B"])
    pairs = ", ".join(f"{b / a:.2f}" for a, b in zip(times["A"], times["B"]))
    print(f"mean A {mean_a:.1f} s, mean B {mean_b:.1f} s, B/A {mean_b / mean_a:.2f} (per round: {pairs})")


if __name__ == "__main__":
    main()
