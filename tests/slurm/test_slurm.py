"""The workflow on a real SLURM cluster (`--profile profiles/slurm`, executor slurm): a full run, a failing job,
and a training cut by its time limit that resumes in the retry.

Needs a running cluster (CI: `.ci/slurm.sh start`). Without one these tests skip, unless
CONCEPTBENCH_SLURM_REQUIRED=1, in which case they fail. Every Snakemake run is bounded by `timeout -s INT`:
SIGINT (unlike SIGTERM) makes Snakemake cancel its SLURM jobs before it exits.

Job states come from `squeue --states=all`, polled while Snakemake runs (a finished job stays visible for
MinJobAge seconds only, and a full run may take longer than that).

Budget (2 cores, one-node cluster): the time-limit run (about 4 minutes on a quiet machine, most of it one training
on one core and SLURM's 1-minute limit), the end-to-end run (about 6 minutes on a quiet machine, mostly waiting on
SLURM's status checks) and the failing job start first (test_the_background_runs_start, marked run_first), run in
the background beside the rest of the suite (there: 4-6 minutes) and are checked at the end of the session.
Every SLURM job costs ~5 s more than the same job run locally (two Snakemake start-ups, sbatch's and srun's), so the
end-to-end test runs a small config that still has a job of every rule (one demo concept, one DreamBooth entry with
prior preservation, two context prompts, a short training): what it proves is that each rule runs as a SLURM job,
which the full default's jobs would prove minutes later. CONCEPTBENCH_SLURM_FULL_DEFAULT=1 runs config.yaml as
shipped instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from safetensors.torch import load_file
from workflow_helpers import (
    TINY_ONLY_RULES,
    Run,
    clean_env,
    copy_workflow,
    default_config,
    dry_run,
    read_config,
    snakemake,
    snakemake_command,
    write_config,
)

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

REQUIRED_ENV = "CONCEPTBENCH_SLURM_REQUIRED"
FULL_DEFAULT_ENV = "CONCEPTBENCH_SLURM_FULL_DEFAULT"
# The profile as a user runs it, with the first status check after 2 s instead of 40 s (a one-node cluster
# answers at once; 40 s per round trip would dominate every test here).
PROFILE_ARGS = ("--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "2")
SUBMITTED = re.compile(r"Job (?P<job>\d+) has been submitted with SLURM jobid (?P<id>\d+) \(log: (?P<log>\S+)\)\.")
SLURM_LOGS = Path(".snakemake") / "slurm_logs"
RESUMED = re.compile(r"resuming from saved state at step (\d+)")
# The background runs start first and take 4-6 minutes beside the suite's first tests on a fast day (twice that on
# a slow one): a hung run fails, a slow one does not.
BACKGROUND_LIMIT = 25 * 60


# ---- is there a cluster? ----------------------------------------------------------------------------------------


def _cluster_problem() -> str | None:
    """Why no SLURM cluster can take jobs here, or None when one can."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM client commands (sinfo, sbatch) are not installed"
    try:
        done = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`sinfo` did not answer within 20 s (is slurmctld running?)"
    if done.returncode != 0:
        last = ((done.stderr or done.stdout).strip().splitlines() or [""])[-1]  # e.g. "fatal: Could not establish..."
        return f"`sinfo` failed (exit {done.returncode}): {last[:300]}"
    states = done.stdout.split()
    # Short states (%t); "*" (not responding), "!" / "%" (powering down/off) and the like mark unusable nodes.
    if not any(state.rstrip("~#") in ("idle", "mix", "alloc", "comp") for state in states):
        return f"no SLURM node is up and usable (sinfo node states: {states or 'none'})"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    problem = _cluster_problem()
    if problem:
        message = f"no usable SLURM cluster: {problem}. Start one with `.ci/slurm.sh start` (needs root)."
        if os.environ.get(REQUIRED_ENV) == "1":
            pytest.fail(f"{REQUIRED_ENV}=1 but {message}", pytrace=False)
        pytest.skip(message)


# ---- running Snakemake against SLURM and watching its jobs -------------------------------------------------------


@dataclass
class SlurmJob:
    id: str
    state: str = ""
    comment: str = ""  # the plugin's `rule_<name>_wildcards_<values>`
    time_limit: str = ""


@dataclass
class SlurmRun:
    run: Run
    seconds: float
    jobs: dict[str, SlurmJob] = field(default_factory=dict)  # every job submitted from the workdir, by id

    def submitted(self) -> list[tuple[str, str, Path]]:
        """(snakemake job id, SLURM job id, per-job log) in submission order, from Snakemake's output."""
        return [(m["job"], m["id"], Path(m["log"])) for m in SUBMITTED.finditer(self.run.output)]

    def states(self) -> dict[str, str]:
        return {job_id: job.state for job_id, job in self.jobs.items()}


def _squeue(workdir: Path) -> dict[str, SlurmJob]:
    """Jobs on the cluster (any state) whose working directory is `workdir`."""
    done = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%l|%Z|%k"],
                          capture_output=True, text=True, timeout=30)
    jobs = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5 and os.path.realpath(parts[3]) == str(workdir):
            jobs[parts[0]] = SlurmJob(parts[0], parts[1], parts[4], parts[2])
    return jobs


def _cancel_leftovers(workdir: Path) -> list[str]:
    """Cancel jobs of `workdir` that are still pending or running (only ours, by id); returns their ids."""
    left = [j.id for j in _squeue(workdir).values() if j.state in ("PENDING", "RUNNING", "CONFIGURING",
                                                                     "COMPLETING", "SUSPENDED")]
    if left:
        subprocess.run(["scancel", *left], capture_output=True, timeout=30)
    return left


class SlurmRunInProgress:
    """Snakemake with the SLURM profile running in `workdir` (at most `limit` seconds), squeue polled by a thread.

    `wait()` gives the finished SlurmRun; meanwhile this process may do other work (other tests).
    """

    def __init__(self, workdir: Path, *args: str, limit: float):
        self.workdir, self.args, self.limit = Path(os.path.realpath(workdir)), args, limit
        command = ["timeout", "-s", "INT", "-k", "60", str(int(limit)), *snakemake_command(*PROFILE_ARGS, *args)]
        self.out_path = self.workdir / "slurm_snakemake.out"
        self.err_path = self.workdir / "slurm_snakemake.err"
        self.jobs: dict[str, SlurmJob] = {}
        self.start = time.monotonic()
        self.end: float | None = None  # when the poller saw Snakemake exit (the check may come much later)
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            # Its own process group, so the whole run (timeout, snakemake, sbatch/squeue calls) can be signalled.
            self.process = subprocess.Popen(command, cwd=self.workdir, stdout=out, stderr=err, text=True,
                                            env=clean_env(), start_new_session=True)
        self.poller = threading.Thread(target=self._poll, daemon=True)
        self.poller.start()

    def _poll(self) -> None:
        while self.process.poll() is None and time.monotonic() - self.start < self.limit + 90:
            self.jobs.update(_squeue(self.workdir))
            time.sleep(2)
        if self.process.poll() is not None:
            self.end = time.monotonic()

    def wait(self) -> SlurmRun:
        try:
            self.poller.join()
        finally:
            if self.process.poll() is None:  # `timeout` did not end it, or the test itself was interrupted
                os.killpg(self.process.pid, signal.SIGINT)  # snakemake cancels its SLURM jobs on SIGINT
                try:
                    self.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
                _cancel_leftovers(self.workdir)
        seconds = (self.end or time.monotonic()) - self.start
        self.jobs.update(_squeue(self.workdir))
        run = Run(list(self.args), self.process.returncode, self.out_path.read_text(), self.err_path.read_text())
        left = _cancel_leftovers(self.workdir)
        assert run.returncode not in (124, 137, -signal.SIGINT, -signal.SIGKILL), (
            f"snakemake did not finish within {self.limit} s (stopped with SIGINT)\n{run.output[-6000:]}")
        assert not left, f"snakemake exited but left SLURM jobs behind (now cancelled): {left}"
        return SlurmRun(run, seconds, self.jobs)


def _fail_message(result: SlurmRun) -> str:
    jobs = "\n".join(f"  {j.id} {j.state} {j.comment} (limit {j.time_limit})" for j in result.jobs.values())
    return (f"SLURM jobs of this run:\n{jobs}\n--- snakemake stdout (end) ---\n{result.run.stdout[-3000:]}\n"
            f"--- snakemake stderr (end) ---\n{result.run.stderr[-6000:]}")


def _note(capsys, text: str) -> None:
    """Print past pytest's capture, so timings show up in the CI log."""
    with capsys.disabled():
        print(f"\n[test_slurm] {text}")


# ---- 1. a failing job ---------------------------------------------------------------------------------------------


_FAILING: list[tuple[Path, SlurmRunInProgress]] = []  # started beside the end-to-end run, checked at the end


def _start_failing_run(tmp_path: Path) -> tuple[Path, SlurmRunInProgress]:
    workdir = copy_workflow(tmp_path / "workflow")
    # A bad photo now stops the run at start-up (tests/unit/config/test_bad_inputs.py); what still fails inside a job is
    # the machine, e.g. a file where the job writes its output folder (root ignores permissions, so not a chmod).
    blocker = workdir / "results" / "targets" / "blue_dog.partial"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    return workdir, SlurmRunInProgress(workdir, "--retries", "0", "results/targets/blue_dog", limit=5 * 60)


@pytest.mark.run_last
def test_failing_job_is_reported_and_fails_the_run(tmp_path, slurm_cluster):
    workdir, running = _FAILING.pop() if _FAILING else _start_failing_run(tmp_path)  # run alone: start it now
    result = running.wait()
    assert result.run.returncode != 0, _fail_message(result)
    submitted = result.submitted()
    assert len(submitted) == 1, _fail_message(result)
    (_, slurm_id, slurm_log), = submitted
    assert result.states() == {slurm_id: "FAILED"}, _fail_message(result)

    output = result.run.output
    assert "Error in rule prepare_concept" in output, _fail_message(result)
    assert "logs/prepare_concept/blue_dog.log" in output, _fail_message(result)
    assert f"SLURM-job '{slurm_id}' failed, SLURM status is: 'FAILED'" in output, _fail_message(result)
    # The job's own log names the file in the way; show-failed-logs (profiles/default) prints it too.
    job_log = (workdir / "logs" / "prepare_concept" / "blue_dog.log").read_text()
    assert "FileExistsError" in job_log and "blue_dog.partial" in job_log, job_log
    assert "blue_dog.partial" in output
    assert slurm_log.is_file(), f"the failed job's SLURM log {slurm_log} was not kept"
    assert not (workdir / "results" / "targets" / "blue_dog").exists(), "a failed job left its output behind"


# ---- 2. a time limit cuts a training, the retry resumes it --------------------------------------------------------

CONCEPT, METHOD = "blue_dog", "lora"
TARGET = f"results/checkpoints/{CONCEPT}/{METHOD}"
ARTIFACT = "pytorch_lora_weights.safetensors"
# Attempt 1 gets 1 minute, the retry 10. SLURM enforces a limit when slurmctld next checks (every 30 s), so the cut
# lands 60-91 s after the job starts, and the job spends ~9 s before its first step: 95 s of steps (timed on a
# quiet machine; beside the rest of the suite they only take longer) make sure the cut lands inside the training.
# The retry must not get the same minute: it would end its remaining steps close to its own limit, and a job that
# SLURM ends as TIMEOUT just after the training finished would be restored from its finished outputs by a third
# attempt (tests/unit/methods/test_resume.py), which the profile's one retry lacks. Ten minutes cover the rest even on
# a loaded machine.
TIME_LIMITS = "train:runtime=1 if attempt == 1 else 10"
TRAIN_SECONDS = 95
CALIBRATION_STEPS = 150

# Trains in this process with 1 torch thread, as the SLURM job does (resources: train: threads: 1 below); prints
# a monotonic timestamp with every log line so the caller can time the steps.
TRAIN_RUNNER = """
import json, sys, time, torch
torch.set_num_threads(1)
from conceptbench.methods.job import train_concept
train_concept(**json.loads(sys.argv[1]), log=lambda m: print(f"{time.monotonic():.3f} {m}", flush=True))
"""


def _train_locally(workdir: Path, cfg: dict, out: Path) -> subprocess.Popen:
    """Start the workflow's `train` job under config `cfg` outside Snakemake and SLURM: the same call with the
    same arguments as scripts/train.py makes (params.method, class noun, base model and targets of `workdir`)."""
    from conceptbench.workflow.plan import Plan

    plan = Plan(cfg, workdir)
    base_model = (plan.base_model_input() or [plan.cfg["base_model"]])[0]  # the built folder, or the builtin's name
    spec = {"base_model": base_model, "targets_dir": f"results/targets/{CONCEPT}",
            "class_images_dir": None, "concept_name": CONCEPT, "class_noun": plan.concepts[CONCEPT].class_noun,
            "method_name": METHOD, "params": dict(plan.methods[METHOD]), "out_dir": str(out / "out"),
            "state_dir": str(out / "state"), "device": plan.cfg["device"]}
    assert not plan.uses_prior(METHOD)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.log", "w") as log:  # a file, not a pipe: nobody reads while it runs
        return subprocess.Popen([sys.executable, "-c", TRAIN_RUNNER, json.dumps(spec)], cwd=workdir,
                                env=clean_env(), stdout=log, stderr=subprocess.STDOUT)


def _method_params(workdir: Path, cfg: dict) -> dict:
    """The method's parameters exactly as the train rule gets them (params.method) under config `cfg`."""
    from conceptbench.workflow.plan import Plan

    return dict(Plan(cfg, workdir).methods[METHOD])


def _seconds_per_step(workdir: Path, cfg: dict, tmp: Path) -> float:
    """Time CALIBRATION_STEPS steps of the training, 1 thread, nothing else running."""
    cfg = {**cfg, "methods": {METHOD: {**cfg["methods"][METHOD], "steps": CALIBRATION_STEPS}}}
    process = _train_locally(workdir, cfg, tmp)
    process.wait(timeout=300)
    output = (tmp / "train.log").read_text()
    assert process.returncode == 0, output
    stamps = {line.split(" ", 2)[1]: float(line.split(" ", 1)[0]) for line in output.splitlines()
              if re.match(r"^\d+\.\d+ (training|saved) ", line)}
    return (stamps["saved"] - stamps["training"]) / CALIBRATION_STEPS


@dataclass
class TimeLimitRun:
    workdir: Path
    steps: int
    per_step: float
    reference_dir: Path
    reference: subprocess.Popen  # the uninterrupted training, beside the SLURM job
    running: SlurmRunInProgress


_TIME_LIMIT: list[TimeLimitRun] = []  # started before the other background runs, checked at the end


def _start_time_limit_run(tmp_path: Path) -> TimeLimitRun:
    """Make the training's inputs, time its steps, then start the SLURM run and the uninterrupted reference."""
    cfg = default_config()
    # Only the SIGTERM save counts; no snapshots (the calibration's 150 steps would end before the default's).
    cfg["methods"] = {METHOD: {**cfg["methods"][METHOD], "checkpoint_every": 0, "eval_steps": []}}
    cfg["resources"] = {"train": {"threads": 1}}
    workdir = Path(os.path.realpath(copy_workflow(tmp_path / "workflow", cfg)))

    # The training's inputs (base model, concept photos) are made locally, then the steps are timed on this machine.
    from conceptbench.workflow.plan import Plan

    inputs = [*Plan(cfg, workdir).base_model_input(), f"results/targets/{CONCEPT}"]
    snakemake(workdir, *inputs, timeout=300).check()
    per_step = _seconds_per_step(workdir, cfg, tmp_path / "calibration")
    steps = int(TRAIN_SECONDS / per_step)
    cfg["methods"][METHOD]["steps"] = steps
    write_config(workdir, cfg)
    method = _method_params(workdir, read_config(workdir))
    assert method["steps"] == steps and method["checkpoint_every"] == 0 and method["prior_preservation"] is False

    # The uninterrupted reference (1 thread) runs beside the SLURM job (1 CPU).
    reference = _train_locally(workdir, read_config(workdir), tmp_path / "reference")
    try:
        # The profile's `retries: 1` gives the one retry. `--` ends --set-resources' list of values. The limit
        # covers waiting in the queue behind the end-to-end run's jobs.
        running = SlurmRunInProgress(workdir, "--set-resources", TIME_LIMITS, "--", TARGET, limit=BACKGROUND_LIMIT)
    except BaseException:
        reference.kill()
        raise
    return TimeLimitRun(workdir, steps, per_step, tmp_path / "reference", reference, running)


@pytest.mark.run_last
def test_training_cut_by_time_limit_resumes_in_retry(tmp_path, slurm_cluster, capsys):
    run = _TIME_LIMIT.pop() if _TIME_LIMIT else _start_time_limit_run(tmp_path)  # run alone: start it now
    workdir, steps = run.workdir, run.steps
    try:
        result = run.running.wait()
    except BaseException:
        run.reference.kill()
        raise
    run.reference.wait(timeout=600)
    reference_output = (run.reference_dir / "train.log").read_text()

    attempts = [slurm_id for _, slurm_id, _ in result.submitted()]
    job_log = (workdir / "logs" / "train" / CONCEPT / f"{METHOD}.log").read_text()
    resumed = [int(n) for n in RESUMED.findall(job_log)]
    _note(capsys, f"time-limit resume: {steps} steps at {run.per_step * 1000:.1f} ms/step, SLURM attempts "
                  f"{[(i, result.jobs[i].state if i in result.jobs else '?') for i in attempts]}, resumed at "
                  f"{resumed}, snakemake {result.seconds:.0f} s (beside the suite)")
    assert result.run.returncode == 0, _fail_message(result)
    assert run.reference.returncode == 0, reference_output

    # Attempt 1 hit its 1-minute limit, the retry (10 minutes) completed.
    assert len(attempts) == 2, _fail_message(result)
    first, last = result.jobs[attempts[0]], result.jobs[attempts[1]]
    assert (first.state, first.time_limit) == ("TIMEOUT", "1:00"), _fail_message(result)
    assert (last.state, last.time_limit) == ("COMPLETED", "10:00"), _fail_message(result)
    first_slurm_log = (workdir / SLURM_LOGS / "rule_train" / f"{CONCEPT}_{METHOD}" / f"{attempts[0]}.log").read_text()
    assert "DUE TO TIME LIMIT" in first_slurm_log, first_slurm_log[-2000:]

    # The retry's log: it resumed where the SIGTERM save left off. (Snakemake deletes a job's log before each
    # attempt, so the first attempt's "SIGTERM received: state saved at step N" is gone by now.)
    assert len(resumed) == 1 and 0 < resumed[0] < steps, job_log[-3000:]
    assert "with 1 thread(s)" in job_log, "the SLURM job did not train with 1 thread"
    metadata = json.loads((workdir / TARGET / "metadata.json").read_text())
    assert metadata["threads"] == 1
    state = workdir / "results" / "train_state" / CONCEPT / METHOD
    assert sorted(p.name for p in state.iterdir()) == ["finished", "finished.json"], "resumable state left"

    # Bitwise the weights (and losses) of the uninterrupted run.
    resumed_weights = load_file(str(workdir / TARGET / ARTIFACT))
    straight_weights = load_file(str(run.reference_dir / "out" / ARTIFACT))
    assert resumed_weights.keys() == straight_weights.keys()
    for key in straight_weights:
        assert resumed_weights[key].equal(straight_weights[key]), f"{key} differs after the resume"
    assert (workdir / TARGET / "loss.csv").read_text() == (run.reference_dir / "out" / "loss.csv").read_text()


# ---- 3. every rule, each job a SLURM job, beside the rest of the suite ----------------------------------------


def small_config() -> dict:
    """config.yaml with one DreamBooth entry (prior preservation: class images) of 30 steps and a snapshot at 15 (the
    trade-off plots), two context prompts."""
    cfg = default_config()
    cfg["methods"] = {"dreambooth": {**cfg["methods"]["dreambooth"], "steps": 30, "checkpoint_every": 15,
                                     "eval_steps": [15]}}
    assert cfg["methods"]["dreambooth"]["prior_preservation"], "the class_images rule needs a method with a prior"
    cfg["prompts"]["context"] = cfg["prompts"]["context"][:2]
    return cfg


@dataclass
class EndToEnd:
    workdir: Path
    what: str
    planned: object  # workflow_helpers' Plan of the run
    remote: list
    running: SlurmRunInProgress


_END_TO_END: list[EndToEnd] = []  # started by test_the_end_to_end_run_starts, checked at the session's end


def _start_end_to_end(tmp_path: Path) -> EndToEnd:
    if os.environ.get(FULL_DEFAULT_ENV) == "1":
        workdir, what = copy_workflow(tmp_path / "workflow"), "the embedded default"  # config.yaml as shipped
    else:
        workdir, what = copy_workflow(tmp_path / "workflow", small_config()), "a small config on blue_dog"
        shutil.rmtree(workdir / "data" / "demo" / "cyan_robot")  # see the module docstring: time
    planned = dry_run(workdir)
    rules = snakemake(workdir, "--list-rules", timeout=120).check().stdout.split()
    assert set(planned.counts) == set(rules) - set(TINY_ONLY_RULES), "the run should exercise every rule it can"
    remote = [job for job in planned.jobs if job.rule != "all"]  # `all` has no output and runs locally
    running = SlurmRunInProgress(workdir, "--slurm-keep-successful-logs", limit=BACKGROUND_LIMIT)
    return EndToEnd(workdir, what, planned, remote, running)


@pytest.mark.run_first
def test_the_background_runs_start(tmp_path, slurm_cluster):
    # Mostly waiting on SLURM's status checks: the rest of the suite runs meanwhile, and the run_last tests check
    # the finished runs at the end of the session. The time-limit run first: its step timing wants a quiet machine.
    _TIME_LIMIT.append(_start_time_limit_run(tmp_path / "time_limit"))
    _END_TO_END.append(_start_end_to_end(tmp_path / "end_to_end"))
    _FAILING.append(_start_failing_run(tmp_path / "failing"))


@pytest.mark.run_last
def test_every_rule_runs_as_a_slurm_job(tmp_path, slurm_cluster, capsys):
    started = _END_TO_END.pop() if _END_TO_END else _start_end_to_end(tmp_path)  # run alone: start it now
    workdir, what, planned, remote = started.workdir, started.what, started.planned, started.remote
    result = started.running.wait()
    _note(capsys, f"{what} via --profile profiles/slurm: {len(remote)} SLURM jobs in "
                  f"{result.seconds:.0f} s wall ({planned.summary()}), beside the rest of the suite")
    assert result.run.returncode == 0, _fail_message(result)

    # Every job of the plan ran, and nothing is left to do: every output of the workflow exists and is up to date.
    assert result.run.jobs.counts == planned.counts, (result.run.jobs.summary(), planned.summary())
    after = dry_run(workdir)
    assert after.nothing_to_do and not after.jobs, after.details()
    summary = workdir / "results" / "summary"
    for name in ("metrics.csv", "metrics.md", "similarity_clip.png", "similarity_fid.png", "grids/blue_dog.png"):
        assert (summary / name).stat().st_size > 0, name

    # ... each as its own SLURM job: one submission per job, a kept per-job log named by its SLURM id,
    # in the folder of its rule, and every one of those ids COMPLETED according to SLURM itself.
    submitted = result.submitted()
    assert len(submitted) == len(remote), f"{len(submitted)} SLURM submissions for {len(remote)} jobs"
    ids = [slurm_id for _, slurm_id, _ in submitted]
    assert len(set(ids)) == len(ids)
    logs = sorted((workdir / SLURM_LOGS).rglob("*.log"))
    assert sorted(p.stem for p in logs) == sorted(ids), "per-job SLURM logs do not match the submitted job ids"
    rules_by_log = {p.stem: p.relative_to(workdir / SLURM_LOGS).parts[0] for p in logs}
    assert sorted(rules_by_log.values()) == sorted(f"rule_{job.rule}" for job in remote)
    for path in logs:
        text = path.read_text()
        # The job-side Snakemake ran exactly this rule, on a SLURM node, and finished it.
        assert f"--allowed-rules {rules_by_log[path.stem][5:]}" in text, path
        assert "1 of 1 steps (100%) done" in text, f"{path} does not show the job finishing:\n{text[-2000:]}"
    assert set(result.jobs) == set(ids), f"squeue saw {sorted(result.jobs)}, snakemake submitted {sorted(ids)}"
    not_completed = {i: s for i, s in result.states().items() if s != "COMPLETED"}
    assert not not_completed, f"SLURM jobs not COMPLETED: {not_completed}"
