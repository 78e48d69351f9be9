"""The job set-up every workflow script shares (conceptbench.jobs): imported first, it makes heavy imports cheaper."""

import ast
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*.py"))


def imported_modules(script: Path) -> list[str]:
    """The modules a script's top-level import statements name, in order."""
    names = []
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module)
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_script_imports_the_job_set_up_before_anything_heavy(script):
    modules = [name for name in imported_modules(script) if name != "sys"]  # sys: needed to find the library
    assert modules and modules[0] == "conceptbench.jobs", (
        f"{script.name} imports {modules[:1]} first; conceptbench.jobs must come first (it tunes the garbage "
        "collector for the imports after it)")


def test_importing_the_job_set_up_makes_collections_rarer():
    probe = "import gc; before = gc.get_threshold(); import conceptbench.jobs; print(*before, *gc.get_threshold())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    before, after = [int(n) for n in out[:3]], [int(n) for n in out[3:]]
    assert before[0] == 700  # CPython's default: what the measurement in bench/imports.py compares against
    assert after == [10_000, *before[1:]]  # only the youngest generation's threshold changes


# A job that holds its output's lock (start_job takes it) until the test closes its stdin.
JOB = """
import socket, sys, types
from conceptbench.jobs import start_job
job = types.SimpleNamespace(log=[sys.argv[1]], threads=1, rule="generate", wildcards={"concept": "c", "method": "m"},
                            output=["results/images/c/m"])
start_job(job)
print("started", socket.gethostname(), file=sys.__stdout__, flush=True)
sys.stdin.read()
"""


def _start_holder(workdir: Path, log: str) -> tuple[subprocess.Popen, str]:
    holder = subprocess.Popen([sys.executable, "-c", JOB, log], cwd=workdir, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    started, host = holder.stdout.readline().split()
    assert started == "started"
    return holder, host


def _second_job(workdir: Path, log: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", JOB, log], cwd=workdir, stdin=subprocess.DEVNULL, check=False,
                          capture_output=True, text=True, timeout=60)


def test_a_second_job_for_the_same_output_stops_at_once_naming_the_first(tmp_path):
    """Snakemake killed with -9 leaves its job running; after --unlock a re-run starts a second job for the same
    output, which must stop before it touches anything, with a message instead of a traceback."""
    holder, host = _start_holder(tmp_path, "logs/first.log")
    try:
        second = _second_job(tmp_path, "logs/second.log")
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    message = (f"another process (pid {holder.pid} on {host}) is still making results/images/c/m, most likely the job "
               f"of an earlier snakemake that was killed (its jobs go on running). Wait for it to end, or stop it "
               f"(kill {holder.pid}), then run snakemake again")
    assert second.returncode == 1 and message in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    log = (tmp_path / "logs" / "second.log").read_text()
    assert message in log and "Traceback" not in log
    assert (tmp_path / "results" / "locks" / "images" / "c" / "m.lock").is_file()

    # The first job has ended: its lock went with it.
    assert _second_job(tmp_path, "logs/third.log").returncode == 0


def test_a_job_killed_with_minus_9_leaves_no_stale_lock(tmp_path):
    holder, _ = _start_holder(tmp_path, "logs/first.log")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    again = _second_job(tmp_path, "logs/second.log")
    assert again.returncode == 0, again.stderr


def test_a_job_s_start_up_is_measured_from_when_its_process_started():
    """The start-up a job logs (and bench/dag.py splits off) lies within the time its process has existed: psutil's
    create_time, which adds Linux's boot time in whole seconds, put every job's start up to 1 s too early."""
    import time

    probe = "import time; from conceptbench.jobs import process_age; print(process_age(), time.time())"
    launched = time.time()
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    age, now = float(out[0]), float(out[1])
    started = now - age  # when the process started, as the job would report it
    assert launched - 0.05 <= started <= now, (age, now - launched)
