"""What every workflow script does first: log to the rule's log file and use the threads it was given.

Every script imports this module before anything else, because importing it also makes Python's cyclic garbage
collector run less often: a job imports torch, diffusers and transformers (about a million objects, none of them
garbage), and at Python's default threshold (a collection every 700 new objects) the collector runs ~1,300 times
while they load, at 10,000 ~85 times. `python bench/imports.py` measures it: the imports of a generation job take
0.9 s less (1.2 s of collection instead of 0.4 s).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

COLLECTION_THRESHOLD = 10_000  # new container objects between two young-generation collections (Python: 700)
gc.set_threshold(COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


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
