"""Warm starts (conceptbench/warm.py): a job's script handed over to the server runs in a forked worker as it would in
a fresh process (its arguments, directory, environment, streams, exit status and signals), and every case the
server cannot serve as a fresh process would run starts cold instead. One server for the module (its imports take
seconds); the scripts are tiny. That the workflow's outputs are bitwise a cold start's is
tests/workflow/test_workflow.py::test_two_runs_from_scratch_give_identical_results (its reduced run starts cold)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conceptbench import warm

REPO = Path(__file__).resolve().parents[2]

# What the job prints: where it ran and what it saw, before doing what the test asks (`ACTION`).
SCRIPT = """
import json, os, sys
preloaded = "torch" in sys.modules  # before the script imports anything heavy itself
import conceptbench.jobs  # hands the script over, as every workflow script does first
import torch
print(json.dumps({"pid": os.getpid(), "worker_of": os.environ.get("CONCEPTBENCH_WARM_WORKER"),
                  "preloaded": preloaded, "argv": sys.argv[1:], "cwd": os.getcwd(),
                  "value": os.environ.get("TEST_VALUE"), "seed": torch.initial_seed()}), flush=True)
ACTION
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("warm") / "server.log"
    handle = warm.start_server(log)
    address = os.environ.pop(warm.ADDRESS)  # only the jobs of these tests get it, through their environment
    yield handle, address, log
    handle.stop()
    handle.process.wait(timeout=30)


def job_environment(address: str, **extra) -> dict:
    """A job's environment as Snakemake makes it for a one-thread job, with the server's address."""
    env = {**os.environ, **dict.fromkeys(warm.THREAD_VARIABLES, "1"), warm.ADDRESS: address,
           "PYTHONPATH": str(REPO)}
    env.update(extra)
    return env


def start_job(tmp_path: Path, address: str, action: str = "", args=(), **env) -> subprocess.Popen:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT.replace("ACTION", textwrap.dedent(action)))
    return subprocess.Popen([sys.executable, str(script), *args], cwd=tmp_path, env=job_environment(address, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(job: subprocess.Popen) -> tuple[int, dict, str]:
    out, err = job.communicate(timeout=60)
    return job.returncode, json.loads(out.splitlines()[0]), err


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]


def wait_for(condition, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_server_listens_by_the_time_it_is_started(tmp_path):
    # A job started at once (as the tests below, or a run's first jobs) must not find no socket and start cold.
    handle = warm.start_server(tmp_path / "server.log")
    try:
        assert Path(handle.address.rpartition("@")[0]).exists()
    finally:
        handle.stop()
        handle.process.wait(timeout=30)


def test_a_handed_over_script_runs_in_a_worker_as_a_fresh_process_would(server, tmp_path):
    handle, address, _ = server
    job = start_job(tmp_path, address, "print('done', file=sys.stderr)", args=["a", "b c"], TEST_VALUE="x")
    code, seen, err = finish(job)
    assert code == 0, err
    assert seen["worker_of"] == str(handle.process.pid) and seen["pid"] != job.pid
    assert seen["preloaded"], "the worker should have inherited torch"
    assert seen["argv"] == ["a", "b c"] and seen["cwd"] == str(tmp_path) and seen["value"] == "x"
    assert err.strip().endswith("done")  # its stderr is the job's


def test_the_job_ends_with_its_workers_status(server, tmp_path):
    _, address, _ = server
    assert finish(start_job(tmp_path, address, "raise SystemExit(3)"))[0] == 3
    code, seen, err = finish(start_job(tmp_path, address, "raise ValueError('broken on purpose')"))
    assert seen["worker_of"] and code == 1
    assert "Traceback" in err and "ValueError: broken on purpose" in err


def test_workers_draw_fresh_unseeded_random_numbers(server, tmp_path):
    _, address, _ = server
    seeds = {finish(start_job(tmp_path, address))[1]["seed"] for _ in range(2)}
    assert len(seeds) == 2  # as two fresh processes would; a fork would repeat the server's


def test_a_signal_to_the_job_reaches_its_worker(server, tmp_path):
    _, address, _ = server
    job = start_job(tmp_path, address, "import time; time.sleep(60)")
    pid = json.loads(job.stdout.readline())["pid"]
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == -signal.SIGTERM
    assert wait_for(lambda: not alive(pid))


def test_a_killed_job_takes_its_worker_with_it(server, tmp_path):
    _, address, _ = server
    job = start_job(tmp_path, address, "import time; time.sleep(60)")
    pid = json.loads(job.stdout.readline())["pid"]
    assert pid != job.pid and alive(pid)
    job.kill()  # SIGKILL: the job cannot pass it on; the server sees its connection close
    job.wait(timeout=30)
    assert wait_for(lambda: not alive(pid)), "the worker of a killed job is still running"


def test_a_job_of_another_thread_count_starts_cold(server, tmp_path):
    _, address, log = server
    code, seen, err = finish(start_job(tmp_path, address, OMP_NUM_THREADS="2"))
    assert code == 0, err
    assert seen["worker_of"] is None and not seen["preloaded"]
    assert "another thread count (OMP_NUM_THREADS=2)" in log.read_text()


def test_a_job_not_started_by_the_servers_snakemake_starts_cold(server, tmp_path):
    _, address, _ = server
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # an address naming a process that is not the job's ancestor (as in a SLURM job that inherited it)
        foreign = f"{address.rpartition('@')[0]}@{stranger.pid}"
        code, seen, err = finish(start_job(tmp_path, foreign))
    finally:
        stranger.kill()
        stranger.wait()
    assert code == 0, err
    assert seen["worker_of"] is None and seen["pid"] != 0


def test_no_server_means_a_cold_start(tmp_path):
    code, seen, err = finish(start_job(tmp_path, f"{tmp_path}/no-such-socket@{os.getpid()}"))
    assert code == 0, err
    assert seen["worker_of"] is None


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    owner = subprocess.run(
        [sys.executable, "-c", "from conceptbench import warm; s = warm.start_server(r'%s'); "
                               "print(s.process.pid, s.address)" % (tmp_path / "server.log")],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    pid, address = owner.stdout.split()
    assert wait_for(lambda: not alive(int(pid)), seconds=60), "the server outlived the process that started it"
    assert not Path(address.rpartition("@")[0]).exists(), "the server left its socket behind"
