"""What every workflow script does first: log to the rule's log file, use the threads it was given, and hold the
lock on its output (so that no two processes ever make the same output at once).

Every script imports this module before anything else, because importing it also makes Python's cyclic garbage
collector run less often: a job imports torch, diffusers and transformers (about a million objects, none of them
garbage), and at Python's default threshold (a collection every 700 new objects) the collector runs ~1,300 times
while they load, at 10,000 ~85 times. `python bench/imports.py` measures it: the imports of a generation job take
0.9 s less (1.2 s of collection instead of 0.4 s).
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import os
import resource
import socket
import sys
import time
from pathlib import Path

from conceptbench.warm import WORKER, hand_over, proc_stat

# Before anything else: with a warm-start server running, the rest of the script runs in a worker of it, which
# has imported torch and the rest already (conceptbench/warm.py); this process only waits for it.
hand_over()

COLLECTION_THRESHOLD = 10_000  # new container objects between two young-generation collections (Python: 700)
gc.set_threshold(COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


def start_job(snakemake):
    """Send stdout/stderr (progress bars, tracebacks) to the rule's log, pin torch to the rule's threads, take
    the lock on the job's output (if another process is still making it, say so and exit, status 1) and, for a job
    that runs on a GPU, lease one (`take_gpu`).

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

    warm = f" (a warm start: forked from pid {os.environ[WORKER]})" if WORKER in os.environ else ""
    log(f"=== {time.strftime('%Y-%m-%d')} rule {snakemake.rule} {dict(snakemake.wildcards)} "
        f"with {snakemake.threads} thread(s), {process_age():.2f} s after the process started{warm}")
    # What the job cost, from the process itself: a warm start's benchmark file measures only the process waiting.
    atexit.register(lambda: log(f"used {cpu_seconds():.1f} s of CPU, at most {peak_memory_mb():,.0f} MB resident"))
    if snakemake.output:
        try:
            hold_output(str(snakemake.output[0]), log)
        except OutputBusy as busy:
            log(str(busy))
            if sys.__stderr__ is not sys.stderr:  # on the console too, not only in the log
                print(busy, file=sys.__stderr__, flush=True)
            raise SystemExit(1) from None  # a plain message, no traceback: nothing went wrong in this job
    take_gpu(snakemake, log)
    return log


def cpu_seconds() -> float:
    """CPU time (user and system) of this process so far: since its fork, for a warm start's worker."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_memory_mb() -> float:
    """The peak resident set of this process (Linux reports it in KiB), a worker's inherited pages included."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def take_gpu(snakemake, log) -> None:
    """Lease this job's own GPU(s) (conceptbench/gpus.py) when it runs its models on one (its `device` param is
    cuda, or auto on a machine with a GPU), before anything starts CUDA; a job that cannot have one stops here with
    what to change, before it loads anything."""
    from conceptbench.gpus import GpuUnavailable, lease_for_job

    device = getattr(getattr(snakemake, "params", None), "device", None)
    resources = getattr(snakemake, "resources", None)
    requested = int(resources.get("gpu", 0) or 0) if resources is not None else 0
    rule = str(snakemake.rule)
    key = "features" if rule.startswith("features_") else rule  # the three features rules share one key
    try:
        lease_for_job(device, requested, log, rule=key)
    except GpuUnavailable as exc:
        log(str(exc))
        if sys.__stderr__ is not sys.stderr:
            print(exc, file=sys.__stderr__, flush=True)
        raise SystemExit(1) from None


def process_age() -> float:
    """Seconds since this process started: what the job spent on starting Python and importing, before its work.

    On Linux from the kernel's own clock (the process's start and the uptime, both in ticks since boot: 10 ms):
    psutil's create_time adds the boot time, which Linux gives in whole seconds, so its age was off by up to 1 s
    (0.92 s on this machine, every job alike)."""
    try:
        start_ticks = int(proc_stat()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux
        import psutil

        return time.time() - psutil.Process().create_time()
    return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)


# ---- one process per output ------------------------------------------------------------------------------------

LOCKS = Path("results/locks")  # beside the outputs, where Snakemake neither cleans up nor --unlock looks
_held = []  # the open lock files: a lock lasts as long as this process, even one killed with -9


class OutputBusy(RuntimeError):
    """Another process holds the lock on this job's output."""


def lock_file(output: str) -> Path:
    """The lock of an output: results/images/c/m -> results/locks/images/c/m.lock."""
    parts = Path(output).parts
    parts = parts[1:] if parts[0] in ("results", Path(output).anchor) else parts
    return LOCKS.joinpath(*parts).with_name(parts[-1] + ".lock")


def hold_output(output: str, log=print) -> None:
    """Lock `output` for the rest of this process, or raise OutputBusy naming the process that holds it.

    Killing Snakemake with -9 leaves its jobs running. After `snakemake --unlock`, a re-run starts a second job for
    the same output beside the first: without this lock both write the same partial files, and one of them renames
    or removes what the other is writing (a FileNotFoundError, or a training state mixed from two attempts).
    """
    path = lock_file(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "a+", not "w": opening must not erase the holder's pid. Held open until the process ends.
    handle = open(path, "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid, _, host = handle.read().strip().partition(" ")
        handle.close()
        if pid.isdigit():
            holder = f"pid {pid} on {host}"
            stop = f"kill {pid}" if host == socket.gethostname() else f"kill {pid} on {host}"
        else:  # it holds the lock but has not written its pid yet
            holder, stop = "pid unknown", f"find the process that has {path} open"
        raise OutputBusy(f"another process ({holder}) is still making {output}, most likely the job of an earlier "
                         f"snakemake that was killed (its jobs go on running). Wait for it to end, or stop it "
                         f"({stop}), then run snakemake again") from None
    except OSError as exc:  # a file system without locks: run unprotected rather than not at all
        handle.close()
        log(f"warning: cannot lock {path} ({exc}); nothing stops a second process from making {output} meanwhile")
        return
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} {socket.gethostname()}\n")
    handle.flush()
    _held.append(handle)
