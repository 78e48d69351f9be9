"""Snakemake killed with -9 leaves its jobs running. After `snakemake --unlock`, a re-run beside such an orphaned job
used to start a second job for the same output, and one of the two crashed with a FileNotFoundError (both wrote
the same temporary files). Now the second one stops at once and names the first, which goes on undisturbed."""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest
import yaml
from workflow_helpers import REPO, copy_workflow, snakemake, start_snakemake, wait_for

pytestmark = pytest.mark.workflow

TARGET = "results/checkpoints/blue_dog/lora"
LOCK = "results/locks/checkpoints/blue_dog/lora.lock"
STATE = "results/train_state/blue_dog/lora/state.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def workdir(tmp_path):
    config = yaml.safe_load((REPO / "config" / "plumbing.yaml").read_text())
    # A training far longer than the test, saving its state often: it is the job left running.
    config["methods"] = {"lora": {**config["methods"]["lora"], "steps": 100_000, "checkpoint_every": 10}}
    return copy_workflow(tmp_path / "workflow", config)


def test_a_rerun_beside_an_orphaned_job_stops_with_a_message(workdir):
    first = start_snakemake(workdir, TARGET, log_path=workdir / "first.log")
    orphan = None
    try:
        lock = workdir / LOCK
        wait_for(lambda: lock.is_file() and lock.read_text().strip() or first.poll() is not None, timeout=300,
                 what=f"the training job to take {LOCK}")
        assert first.poll() is None, (workdir / "first.log").read_text()[-3000:]
        orphan = int(lock.read_text().split()[0])
        os.kill(first.pid, signal.SIGKILL)  # Snakemake only: its job goes on
        first.wait(timeout=60)
        assert _alive(orphan)

        snakemake(workdir, "--unlock", timeout=120).check()
        second = snakemake(workdir, TARGET, timeout=300)
        assert _alive(orphan), "the orphaned job did not outlive the re-run; the test proves nothing"
        message = (f"another process (pid {orphan} on {socket.gethostname()}) is still making {TARGET}, most likely the "
                   f"job of an earlier snakemake that was killed (its jobs go on running). Wait for it to end, or stop "
                   f"it (kill {orphan}), then run snakemake again")
        assert second.returncode != 0 and message in second.output, second.output[-5000:]
        assert "Traceback" not in second.output and "FileNotFoundError" not in second.output, second.output[-5000:]

        # The orphan trains on undisturbed, and stops cleanly at its SIGTERM, saving its state.
        state = workdir / STATE
        wait_for(state.is_file, timeout=300, what=f"the orphaned training to save {STATE}")
        os.kill(orphan, signal.SIGTERM)
        wait_for(lambda: not _alive(orphan), timeout=120, what="the orphaned training to stop")
        attempts = json.loads(state.read_text())["attempts"]
        assert [a["stopped_by"] for a in attempts] == ["SIGTERM"] and attempts[0]["to_step"] > 0, attempts
        saved = json.loads(state.read_text())["step"]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if orphan is not None and _alive(orphan):
            os.kill(orphan, signal.SIGKILL)

    # Its lock went with it: a re-run's job takes the output over and resumes from the orphan's state.
    third = start_snakemake(workdir, TARGET, log_path=workdir / "third.log")
    try:
        log = workdir / "logs" / "train" / "blue_dog" / "lora.log"
        resumed = f"resuming from saved state at step {saved}"
        wait_for(lambda: resumed in (log.read_text() if log.is_file() else "") or third.poll() is not None,
                 timeout=300, what=f"'{resumed}' in {log}")
        assert third.poll() is None, (workdir / "third.log").read_text()[-3000:]
    finally:
        if third.poll() is None:
            os.killpg(third.pid, signal.SIGKILL)
        third.wait(timeout=60)
