"""What every workflow script does first: log to the rule's log file and use the threads it was given."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def start_job(snakemake):
    """Send stdout/stderr (progress bars, tracebacks) to the rule's log, pin torch to the rule's threads.

    Returns a `log(message)` function that prints a timestamped line. Jobs that never import torch (tables,
    plots) do not pay for it here either.
    """
    if snakemake.log:
        path = Path(snakemake.log[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        # Appended, not overwritten: a retried job (e.g. after a SLURM time limit) keeps the first attempt's story.
        sys.stdout = sys.stderr = open(path, "a", buffering=1)
    threads = max(1, int(snakemake.threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for torch imported later, and its worker libraries
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    log(f"=== {time.strftime('%Y-%m-%d')} rule {snakemake.rule} {dict(snakemake.wildcards)} "
        f"with {snakemake.threads} thread(s), {process_age():.2f} s after the process started")
    return log


def process_age() -> float:
    """Seconds since this process started: what the job spent on starting Python and importing, before its work."""
    import psutil

    return time.time() - psutil.Process().create_time()
