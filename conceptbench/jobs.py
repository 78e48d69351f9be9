"""What every workflow script does first: log to the rule's log file and use the threads it was given."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def start_job(snakemake):
    """Send stdout/stderr (progress bars, tracebacks) to the rule's log, pin torch to the rule's threads.

    Returns a `log(message)` function that prints a timestamped line.
    """
    import torch

    if snakemake.log:
        path = Path(snakemake.log[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        # Appended, not overwritten: a retried job (e.g. after a SLURM time limit) keeps the first attempt's story.
        sys.stdout = sys.stderr = open(path, "a", buffering=1)
    torch.set_num_threads(max(1, int(snakemake.threads)))

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    log(f"=== {time.strftime('%Y-%m-%d')} rule {snakemake.rule} {dict(snakemake.wildcards)} "
        f"with {snakemake.threads} thread(s)")
    return log
