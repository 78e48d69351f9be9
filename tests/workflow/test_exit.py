"""Snakemake's process ends when its run does, whether the run succeeded or a job failed: the profile's
max-jobs-per-timespan arms a 60-s timer at each scheduling pass, which used to keep the process alive for up to a
minute after 'Elapsed time' (every run, and every run in these tests)."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time

import pytest
import yaml
from workflow_helpers import REPO, clean_env, copy_workflow, snakemake_command

pytestmark = pytest.mark.workflow

TARGET = "results/targets/blue_dog"  # one cheap job: the concept's photos, prepared
LOCK = "results/locks/targets/blue_dog.lock"


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_snakemake_exits_as_soon_as_its_run_ends(tmp_path, outcome):
    workdir = copy_workflow(tmp_path / "workflow", yaml.safe_load((REPO / "config" / "plumbing.yaml").read_text()))
    holder = None
    if outcome == "failure":  # the job finds its output's lock held (by this test) and fails at once
        (workdir / LOCK).parent.mkdir(parents=True)
        holder = open(workdir / LOCK, "w")
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.write(f"{os.getpid()} {socket.gethostname()}\n")
        holder.flush()
    process = subprocess.Popen(snakemake_command(TARGET), cwd=workdir, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=clean_env())
    ended_at, output = None, []
    for line in process.stdout:
        output.append(line)
        if line.startswith("Elapsed time:") or "Nothing to be done" in line:
            ended_at = time.monotonic()
    process.wait(timeout=120)
    exited_at = time.monotonic()
    if holder is not None:
        holder.close()
    text = "".join(output)
    assert process.returncode == (0 if outcome == "success" else 1), text[-3000:]
    assert ended_at is not None and "Nothing to be done" not in text, text[-3000:]
    if outcome == "failure":
        assert "is still making results/targets/blue_dog" in text, text[-3000:]
    assert exited_at - ended_at < 5, f"the process lived {exited_at - ended_at:.1f} s past its run's end"
