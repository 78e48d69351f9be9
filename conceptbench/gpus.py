"""The GPUs the jobs on one machine share, and a lease of its own GPU(s) for every job that uses one.

Snakemake hands out GPUs as a count (the profile's `gpu=N` resource), never as device ids (snakemake issue 281), so
without a lease every local job would use GPU 0. Each job that puts models on a GPU leases a free device here before
CUDA initialises: one lock file per device under `lock_folder()`, held with `fcntl.flock` for the job's lifetime, so
the OS frees it when the job ends or dies (SIGKILL included). The job then sees only its device(s)
(CUDA_VISIBLE_DEVICES), as `cuda:0`.

Which devices: those CUDA_VISIBLE_DEVICES names when it is set (a SLURM allocation sets it, so can a user: "3,5"
gives leases over ["3", "5"]), else every GPU `nvidia-smi -L` lists, else (a driver without nvidia-smi)
`torch.cuda.device_count()` asked in a child process, whose CUDA start-up cannot fix this process's devices. `gpus: N` in the config keeps the first N; the
workflow passes it to local jobs in the environment (COUNT_VARIABLE), not as a param, so changing it re-runs nothing.

Nothing here imports torch: start_job (conceptbench/jobs.py) calls this first thing, and jobs that use no GPU pay
for nothing.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Beside the output locks (conceptbench/jobs.py): per run folder, where Snakemake neither cleans up nor looks.
LOCKS = Path("results/locks/gpus")
COUNT_VARIABLE = "CONCEPTBENCH_GPUS"  # `gpus:` of the config, set by rules/common.smk for local runs
POLL_SECONDS = 5.0  # how often a job that waits for a GPU tries again
DRIVER_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia/gpus")  # one of them exists wherever the NVIDIA driver runs
_NVIDIA_SMI_GPU = re.compile(r"^GPU (\d+): (.*)$")  # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"
_held: list[Lease] = []  # the job's own lease, open until the process ends


class GpuUnavailable(RuntimeError):
    """A job that must run on a GPU cannot have one here."""


@dataclass(frozen=True)
class Devices:
    """The device ids jobs may lease (as CUDA_VISIBLE_DEVICES takes them), where the list came from, and what
    nvidia-smi calls each (for the log)."""

    ids: tuple[str, ...]
    source: str
    names: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{len(self.ids)} GPU(s) ({self.source})"


def visible_devices(environ=None) -> Devices:
    """Every GPU a process on this machine (in this allocation) may use, without initialising CUDA here."""
    environ = os.environ if environ is None else environ
    preset = environ.get("CUDA_VISIBLE_DEVICES")
    if preset is not None:
        ids = []
        for entry in (part.strip() for part in preset.split(",")):
            if not entry or entry.startswith("-"):  # CUDA stops at the first invalid entry: "-1" hides every GPU
                break
            ids.append(entry)
        return Devices(tuple(ids), f"CUDA_VISIBLE_DEVICES={preset}")
    smi = shutil.which("nvidia-smi", path=environ.get("PATH"))
    if smi:
        try:
            listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Devices((), f"nvidia-smi -L failed: {exc}")
        if listed.returncode != 0:  # e.g. no driver loaded: "NVIDIA-SMI has failed ..."
            return Devices((), f"nvidia-smi -L failed: {(listed.stdout + listed.stderr).strip()[:200]}")
        found = [m.groups() for m in map(_NVIDIA_SMI_GPU.match, listed.stdout.splitlines()) if m]
        return Devices(tuple(i for i, _ in found), "nvidia-smi -L", dict(found))
    if not any(Path(path).exists() for path in DRIVER_FILES):
        # No NVIDIA driver: answered at once, not by a torch import in a child process, which would cost every job
        # of a CPU run with device: auto seconds.
        return Devices((), "no NVIDIA driver: no nvidia-smi on PATH, no " + ", no ".join(DRIVER_FILES))
    return _count_with_torch()


def _count_with_torch() -> Devices:
    # In a child process: CUDA, once started there, cannot fix which devices this process sees.
    probe = "import torch; print(torch.cuda.device_count())"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
        count = int(done.stdout.split()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return Devices((), f"no CUDA_VISIBLE_DEVICES, no nvidia-smi, and torch could not count GPUs: {exc}")
    return Devices(tuple(str(i) for i in range(count)), "torch.cuda.device_count(); no nvidia-smi on PATH")


def configured_count(environ=None) -> int | None:
    """`gpus:` of the config as the workflow passed it to this job, or None (every visible GPU)."""
    value = (os.environ if environ is None else environ).get(COUNT_VARIABLE)
    return int(value) if value else None


def usable_devices(environ=None, count: int | None = None) -> Devices:
    """The visible devices, the first `count` of them (default: the config's `gpus:`) when that is set."""
    devices = visible_devices(environ)
    count = configured_count(environ) if count is None else count
    if count is None:
        return devices
    if count > len(devices.ids):
        raise GpuUnavailable(f"config gpus: {count}, but {too_many_gpus(count, devices)}")
    return Devices(devices.ids[:count], f"config gpus: {count}, the first of {devices.describe()}",
                   devices.names)


def too_many_gpus(count: int, devices: Devices) -> str:
    """Why `gpus: count` cannot be, and the fix (after "gpus: N, but ")."""
    return (f"this machine has {devices.describe()}; set gpus: {len(devices.ids)} or fewer, or leave it out "
            "to use every visible GPU")


def lock_folder(environ=None) -> Path:
    """One folder of device locks per machine, and per SLURM allocation: jobs that share an allocation (snakemake
    --cores inside salloc) share its GPUs; jobs with an allocation each (profiles/slurm) cannot collide, since SLURM
    gave each its own GPUs, and must not wait on each other's locks on a shared file system."""
    environ = os.environ if environ is None else environ
    allocation = environ.get("SLURM_JOB_ID")
    return LOCKS / (socket.gethostname() + (f"-slurm{allocation}" if allocation else ""))


@dataclass
class Lease:
    """GPUs held by this process; `release()` (or the end of the process) frees them."""

    devices: tuple[str, ...]
    handles: list = field(default_factory=list, repr=False)

    def release(self) -> None:
        for handle in self.handles:
            handle.close()
        self.handles.clear()


def lease(count: int, devices: Devices, folder: Path | None = None, log=print,
          poll: float = POLL_SECONDS) -> Lease:
    """Lock `count` free devices of `devices`, waiting (and saying so once) while fewer are free.

    All or nothing: a job never holds some GPUs while it waits for others, so two jobs of 2 GPUs each on 3 GPUs
    cannot deadlock. Does not touch the environment (see `lease_for_job`).
    """
    if count < 1:
        raise ValueError(f"a lease is of at least one GPU, not {count}")
    if count > len(devices.ids):
        raise GpuUnavailable(f"this job asks for {count} GPU(s), and {devices.describe()} are visible; lower its "
                             "gpu resource or run it where it has that many")
    folder = lock_folder() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    waiting_since = None
    while True:
        taken = []
        for device in devices.ids:
            handle = _try_lock(folder / f"{_file_name(device)}.lock")
            if handle is not None:
                taken.append((device, handle))
                if len(taken) == count:
                    break
        if len(taken) == count:
            for _, handle in taken:
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()} {socket.gethostname()}\n")
                handle.flush()
            if waiting_since is not None:
                log(f"GPU free after {time.monotonic() - waiting_since:.0f} s of waiting")
            return Lease(tuple(d for d, _ in taken), [h for _, h in taken])
        for _, handle in taken:
            handle.close()
        if waiting_since is None:
            waiting_since = time.monotonic()
            log(f"waiting for {count} free GPU(s): the {devices.describe()} are leased "
                f"({_holders(folder, devices)}); trying again every {poll:g} s")
        time.sleep(poll)


def _file_name(device: str) -> str:
    # Ids are indices or UUIDs; old-style MIG ids hold '/'.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", device)


def _try_lock(path: Path):
    handle = open(path, "a+")  # noqa: SIM115 ("a+", not "w": opening must not erase the holder's pid)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    except OSError as exc:  # a file system without locks: say so rather than share devices silently
        handle.close()
        raise GpuUnavailable(f"cannot lock {path} ({exc}): GPU leases need a local file system with flock; run "
                             "from a folder on one") from None
    return handle


def _holders(folder: Path, devices: Devices) -> str:
    held = []
    for device in devices.ids:
        path = folder / f"{_file_name(device)}.lock"
        text = path.read_text().strip() if path.is_file() else ""
        held.append(f"GPU {device}: pid {text.split()[0]}" if text else f"GPU {device}")
    return ", ".join(held)


def lease_for_job(device: str | None, requested: int, log=print, environ=None, rule: str = "<rule>"
                  ) -> Lease | None:
    """What start_job does for a job with config `device` that asked Snakemake for `requested` GPUs: for cuda (and
    auto, where a GPU is visible) lease max(1, requested) devices and make them the only ones this process sees.
    Returns None where the job runs on the CPU. Must run before CUDA initialises in this process. `rule`: its key
    under the config's `resources:`, for the message."""
    if device not in ("cuda", "auto"):
        return None
    environ = os.environ if environ is None else environ
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("CUDA was initialised before the job leased its GPU, so the lease cannot choose the "
                           "device; call conceptbench.jobs.start_job before any torch.cuda call")
    devices = usable_devices(environ)
    if not devices.ids:
        if device == "auto":
            return None
        raise GpuUnavailable(f"config device: cuda, but this job sees no GPU ({devices.source}) and asked "
                             f"Snakemake for gpu={requested}; {no_gpu_advice(rule)}")
    from_machine = "CUDA_VISIBLE_DEVICES" not in environ
    held = lease(max(1, requested), devices, log=log)
    if from_machine:
        # nvidia-smi numbers GPUs by PCI bus; CUDA's own default order (fastest first) may differ.
        environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    environ["CUDA_VISIBLE_DEVICES"] = ",".join(held.devices)
    names = "".join(f" ({devices.names[d]})" for d in held.devices if d in devices.names)
    log(f"leased GPU {','.join(held.devices)}{names} of {devices.describe()}: CUDA_VISIBLE_DEVICES="
        f"{environ['CUDA_VISIBLE_DEVICES']}")
    _held.append(held)
    return held


def no_gpu_advice(rule: str = "<rule>") -> str:
    """What to change when a GPU job has no GPU. Not `device`: it is a param of every job, so changing it re-runs
    the whole run (and `device: auto` would make no rule request a GPU)."""
    return (f"run the job where a GPU is, and leave `device` as it is (a param of every job: changing it re-runs "
            f"them all). On SLURM the rule must request a GPU: with device: cuda every GPU rule asks for gpu=1 "
            f"unless the config's `resources: {{{rule}: {{gpu: 0}}}}` or --set-resources {rule}:gpu=0 says "
            f"otherwise, and the partition must have GPUs (--set-resources {rule}:slurm_partition=gpu). On a "
            f"workstation: check the driver (`nvidia-smi -L` lists the GPUs) and that CUDA_VISIBLE_DEVICES does not "
            f"hide them")
