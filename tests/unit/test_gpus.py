"""A GPU per job (conceptbench/gpus.py), on CPUs: the devices are simulated the way a SLURM allocation or a user
names them (CUDA_VISIBLE_DEVICES) or as nvidia-smi lists them (a stand-in nvidia-smi on PATH); the leases are the
real ones (flock on files), held by this process or by child processes."""

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from conceptbench import gpus
from conceptbench.gpus import Devices, GpuUnavailable, lease, lease_for_job, usable_devices, visible_devices

THREE = Devices(("0", "1", "2"), "test: three GPUs")

# A child process that leases `count` of the given devices, prints what it got, then holds them until killed or
# until its stdin closes.
HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from conceptbench.gpus import Devices, lease
    ids, folder = sys.argv[1].split(","), Path(sys.argv[2])
    print("started", flush=True)
    held = lease(1, Devices(tuple(ids), "test"), folder, log=lambda m: print(m, flush=True), poll=0.05)
    print("leased", *held.devices, flush=True)
    sys.stdin.read()
""")


def _holder(ids: tuple[str, ...], folder: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, ",".join(ids), str(folder)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": _library_path()})
    assert child.stdout.readline().strip() == "started"
    return child


def _library_path() -> str:
    root = str(Path(gpus.__file__).resolve().parent.parent)
    return os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))


def _leased(child: subprocess.Popen) -> str:
    """The device a holder got (skipping its waiting message)."""
    while True:
        line = child.stdout.readline()
        assert line, "the holder ended without a lease"
        if line.startswith("leased"):
            return line.split()[1]


def _stop(*children: subprocess.Popen) -> None:
    for child in children:
        if child.poll() is None:
            child.stdin.close()
            child.wait(timeout=30)


def test_concurrent_leases_get_distinct_devices(tmp_path):
    children = [_holder(THREE.ids, tmp_path) for _ in range(3)]
    try:
        got = [_leased(child) for child in children]
    finally:
        _stop(*children)
    assert sorted(got) == ["0", "1", "2"]


def test_one_job_more_than_devices_waits_until_one_is_freed(tmp_path):
    held = [lease(1, THREE, tmp_path) for _ in range(3)]
    assert sorted(d for h in held for d in h.devices) == ["0", "1", "2"]
    waiting = _holder(THREE.ids, tmp_path)
    try:
        line = waiting.stdout.readline()
        assert line.startswith("waiting for 1 free GPU(s): the 3 GPU(s) (test) are leased"), line
        assert f"pid {os.getpid()}" in line  # the holders are named
        time.sleep(0.5)
        assert waiting.poll() is None  # still waiting, not failed
        held[1].release()
        assert _leased(waiting) == held[1].devices[0]
    finally:
        _stop(waiting)
        for h in held:
            h.release()


def test_a_sigkilled_holder_frees_its_device(tmp_path):
    one = Devices(("0",), "test: one GPU")
    holder = _holder(one.ids, tmp_path)
    assert _leased(holder) == "0"
    lock = tmp_path / "0.lock"
    with open(lock) as probe:
        with pytest.raises(BlockingIOError):  # held, as long as the holder lives
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    started = time.monotonic()
    mine = lease(1, one, tmp_path, poll=0.05)
    assert mine.devices == ("0",) and time.monotonic() - started < 5
    mine.release()


def test_a_lease_of_several_devices_is_all_or_nothing(tmp_path):
    first = lease(1, THREE, tmp_path)
    pair = lease(2, THREE, tmp_path)
    assert set(pair.devices) == {"1", "2"}
    pair.release()
    with pytest.raises(GpuUnavailable, match="asks for 4 GPU"):
        lease(4, THREE, tmp_path)
    first.release()


def test_a_preset_cuda_visible_devices_is_respected(tmp_path, monkeypatch):
    """Inside a SLURM allocation (or as a user chose): leases over the ids it names, and the job then sees only its
    own one; CUDA's device order is the user's, not changed."""
    monkeypatch.chdir(tmp_path)
    logs = []
    env_a = {"CUDA_VISIBLE_DEVICES": "3,5", "PATH": ""}
    env_b = dict(env_a)
    a = lease_for_job("cuda", 1, logs.append, environ=env_a)
    b = lease_for_job("cuda", 1, logs.append, environ=env_b)
    try:
        assert (env_a["CUDA_VISIBLE_DEVICES"], env_b["CUDA_VISIBLE_DEVICES"]) == ("3", "5")
        assert "CUDA_DEVICE_ORDER" not in env_a
        assert logs[0] == "leased GPU 3 of 2 GPU(s) (CUDA_VISIBLE_DEVICES=3,5): CUDA_VISIBLE_DEVICES=3"
        assert sorted(p.name for p in gpus.lock_folder(env_a).iterdir()) == ["3.lock", "5.lock"]
    finally:
        a.release()
        b.release()


def test_devices_come_from_nvidia_smi_without_cuda_visible_devices(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A100 (UUID: GPU-aaa)'\necho 'GPU 1: NVIDIA A100 (UUID: GPU-bbb)'\n"
                    "echo '  MIG 1g.10gb Device 0: (UUID: MIG-ccc)'\n")
    fake.chmod(0o755)
    env = {"PATH": str(fake.parent)}
    found = visible_devices(env)
    assert found.ids == ("0", "1") and found.source == "nvidia-smi -L"
    monkeypatch.chdir(tmp_path)
    held = lease_for_job("auto", 0, lambda m: None, environ=env)
    try:
        assert env["CUDA_VISIBLE_DEVICES"] == "0"
        assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # nvidia-smi's numbering is by PCI bus
    finally:
        held.release()


def test_a_failing_nvidia_smi_means_no_gpus(tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver'\nexit 9\n")
    fake.chmod(0o755)
    found = visible_devices({"PATH": str(tmp_path)})
    assert found.ids == () and "could not communicate with the driver" in found.source


def test_without_nvidia_smi_the_driver_decides_whether_torch_is_asked(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(gpus, "_count_with_torch", lambda: asked.append(1) or Devices(("0",), "torch"))
    monkeypatch.setattr(gpus, "DRIVER_FILES", (str(tmp_path / "nvidiactl"),))
    started = time.monotonic()
    found = visible_devices({"PATH": ""})  # a CPU machine: answered at once, no torch import
    assert found.ids == () and "no NVIDIA driver" in found.source and not asked
    assert time.monotonic() - started < 1
    (tmp_path / "nvidiactl").touch()  # a driver, but no nvidia-smi: torch counts, in a child process
    assert visible_devices({"PATH": ""}).ids == ("0",) and asked == [1]


def test_the_gpus_setting_keeps_the_first_n_and_refuses_more_than_exist():
    env = {"CUDA_VISIBLE_DEVICES": "0,1", gpus.COUNT_VARIABLE: "1"}
    assert usable_devices(env).ids == ("0",)
    with pytest.raises(GpuUnavailable, match=r"config gpus: 3, but this machine has 2 GPU\(s\) "
                                             r"\(CUDA_VISIBLE_DEVICES=0,1\); set gpus: 2 or fewer"):
        usable_devices({**env, gpus.COUNT_VARIABLE: "3"})


def test_no_visible_gpu_stops_a_cuda_job_and_lets_an_auto_job_run_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"CUDA_VISIBLE_DEVICES": "-1"}  # CUDA's way to hide every GPU
    with pytest.raises(GpuUnavailable) as info:
        lease_for_job("cuda", 0, environ=env, rule="features")
    message = str(info.value)
    for part in ("config device: cuda, but this job sees no GPU (CUDA_VISIBLE_DEVICES=-1)", "gpu=0",
                 "leave `device` as it is", "resources: {features: {gpu: 0}}", "slurm_partition", "nvidia-smi -L"):
        assert part in message, message
    assert lease_for_job("auto", 0, environ=env) is None and env == {"CUDA_VISIBLE_DEVICES": "-1"}
    assert lease_for_job("cpu", 1, environ=env) is None


def test_a_lease_after_cuda_started_is_refused(monkeypatch):
    started = types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", started)
    with pytest.raises(RuntimeError, match="CUDA was initialised before the job leased its GPU"):
        lease_for_job("cuda", 1, environ={"CUDA_VISIBLE_DEVICES": "0"})


def test_lock_folders_are_per_host_and_per_slurm_allocation():
    plain = gpus.lock_folder({})
    assert plain.parent == gpus.LOCKS
    assert gpus.lock_folder({"SLURM_JOB_ID": "42"}) == plain.with_name(plain.name + "-slurm42")


# start_job, as a workflow script calls it: the lease happens there, before torch is imported.
JOB = textwrap.dedent("""
    import os, sys, types
    from conceptbench.jobs import start_job
    job = types.SimpleNamespace(log=[sys.argv[1]], threads=1, rule="features_images", wildcards={}, output=[],
                                params=types.SimpleNamespace(device=sys.argv[2]), resources={"gpu": 1})
    start_job(job)
    print("visible", os.environ.get("CUDA_VISIBLE_DEVICES"), "torch" in sys.modules, file=sys.__stdout__, flush=True)
""")


@pytest.mark.parametrize("device, visible, expected", [
    ("cuda", "4,7", "visible 4 False"),
    ("cpu", "4,7", "visible 4,7 False"),
])
def test_start_job_leases_before_torch_is_imported(tmp_path, device, visible, expected):
    env = {**os.environ, "PYTHONPATH": _library_path(), "CUDA_VISIBLE_DEVICES": visible}
    done = subprocess.run([sys.executable, "-c", JOB, "job.log", device], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    log = (tmp_path / "job.log").read_text()
    assert ("leased GPU 4 of 2 GPU(s)" in log) == (device == "cuda"), log


def test_start_job_without_a_gpu_stops_with_the_fix_and_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": _library_path(), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", JOB, "job.log", "cuda"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "this job sees no GPU" in done.stderr and "--set-resources features:gpu=0" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
