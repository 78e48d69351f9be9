"""Helpers for the workflow tests: run Snakemake on a throw-away copy of the workflow and read its plan.

- `copy_workflow` copies what Snakemake needs (Snakefile, rules, scripts, report, profiles, data, envs,
  config.yaml) into a folder; results/, logs/, benchmarks/ and .snakemake/ are never copied, so every copy starts
  from scratch. The `conceptbench` package is imported from wherever it is installed.
- `snakemake(workdir, ...)` runs `python -m snakemake` there and returns exit code, stdout and stderr.
- `dry_run(workdir, ...)` runs `snakemake -n` and parses Snakemake's own plan into a `Plan`: one `Job` per
  `rule NAME:` block (rule, wildcards, reason, log, benchmark, ...), cross-checked against the `Job stats` table.
  `dry_run(workdir, ..., check=False)` returns the `Run` instead, for a test that expects the dry run to fail.
  Every dry run in the tests goes through it.
  The default console output is the one format that has both the jobs' wildcards and their reasons: `--dag` and
  `--d3dag` drop most wildcards, `--summary` lists files rather than jobs, and `--quiet rules` keeps only counts.
- `finished_default_run`: a session fixture with the full default workflow run once (shared by the test modules).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent  # the one REPO: test modules sit at several depths
KILL_RUNNER = REPO / "tests" / "kill_runner.py"  # a training that signals itself mid-way (methods' resume tests)
WORKFLOW_FILES = ("Snakefile", "config.yaml", "config", "rules", "scripts", "report", "profiles", "data",
                  "envs")

# Rules that build builtin:tiny models: the plumbing preset runs them, the world default (builtin:world) does not.
TINY_ONLY_RULES = ("base_model", "extractor_model")

# Generous limits: a hung run should fail the test with its output rather than hang CI.
FULL_RUN_TIMEOUT = 20 * 60
DRY_RUN_TIMEOUT = 120


# ---- copies and configs -------------------------------------------------------------------------------------


def copy_workflow(dest: Path, config: dict | None = None) -> Path:
    """Copy the workflow into `dest` (created; must not hold a workflow yet); optionally replace config.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            shutil.copy2(source, dest / name)
    if config is not None:
        write_config(dest, config)
    return dest


def read_config(workdir: Path) -> dict:
    return yaml.safe_load((workdir / "config.yaml").read_text())


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def resolved_config(workdir: Path) -> dict:
    """The workflow's config as the rules see it (defaults filled in, concepts resolved under `_concepts`)."""
    from conceptbench.config.validate import validate_config

    return validate_config(read_config(workdir), workdir)


# ---- running Snakemake --------------------------------------------------------------------------------------


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self) -> "Run":
        assert self.returncode == 0, (
            f"snakemake {' '.join(self.args)} exited with {self.returncode}\n"
            f"--- stdout (end) ---\n{self.stdout[-4000:]}\n--- stderr (end) ---\n{self.stderr[-8000:]}"
        )
        return self

    @property
    def jobs(self) -> "Plan":
        """The jobs this run started (a real run prints the same `rule NAME:` blocks as a dry run)."""
        return parse_plan(self.output, check_stats=False)


def snakemake_command(*args: str, cores: int = 2) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", str(cores), *args]


def clean_env() -> dict:
    env = dict(os.environ)
    env.pop("SNAKEMAKE_PROFILE", None)  # a user's global profile must not change what the tests run
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def snakemake(workdir: Path, *args: str, cores: int = 2, timeout: float = FULL_RUN_TIMEOUT) -> Run:
    """Run Snakemake in `workdir` (the workflow profile profiles/default applies, as for a user)."""
    command = snakemake_command(*args, cores=cores)
    try:
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=clean_env())
    except subprocess.TimeoutExpired as exc:
        out, err = _text(exc.stdout), _text(exc.stderr)  # partial output; bytes even with text=True
        pytest.fail(f"snakemake {' '.join(args)} did not finish in {timeout} s\n{out[-3000:]}\n{err[-3000:]}")
    return Run(list(args), done.returncode, done.stdout, done.stderr)


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def run_small_family_config(tmp_path: Path, base_model: str, methods: dict, pipeline_class: str,
                            scheduler_left_out: bool = False) -> Path:
    """The plumbing preset on a tiny model of another family (`base_model`, built by the workflow), with `methods`,
    one concept (blue_dog), one context prompt and 2 images per prompt, run end to end; checks that every training
    and one class-images set ran, that the base model built is a `pipeline_class`, and that every method entry and
    snapshot is scored. Returns the workflow folder."""
    preset = yaml.safe_load((REPO / "config" / "plumbing.yaml").read_text())
    preset["base_model"] = base_model
    preset["methods"] = methods
    preset["prompts"]["context"] = preset["prompts"]["context"][:1]
    preset["generation"]["num_images"] = 2
    if scheduler_left_out:
        preset["generation"].pop("scheduler")
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "data" / "demo" / "cyan_robot").rename(tmp_path / "cyan_robot")
    (workdir / "small.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
    run = snakemake(workdir, "--configfile", "small.yaml").check()
    assert run.jobs.counts["train"] == len(methods) and run.jobs.counts["class_images"] == 1, run.jobs.summary()
    assert run.jobs.counts["base_model"] == 1, run.jobs.summary()
    index = json.loads((workdir / "results" / "base_model" / "model_index.json").read_text())
    assert index["_class_name"] == pipeline_class
    metrics = (workdir / "results" / "summary" / "metrics.csv").read_text()
    scored = list(methods) + [f"{name}@step{step}" for name, entry in methods.items()
                                           for step in entry.get("eval_steps", [])]
    for method in scored:
        assert f",{method}," in metrics, method
    return workdir


def start_snakemake(workdir: Path, *args: str, cores: int = 2, log_path: Path | None = None) -> subprocess.Popen:
    """Start Snakemake in the background, in its own process group (so the test can kill it and all its jobs)."""
    with open(log_path or workdir / "background_snakemake.log", "w") as log:
        return subprocess.Popen(snakemake_command(*args, cores=cores), cwd=workdir, stdout=log,
                                stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True)


# ---- Snakemake's plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def wc(self) -> dict[str, str]:
        return dict(self.wildcards)

    def get(self, key: str, default: str = "") -> str:
        return dict(self.fields).get(key, default)

    @property
    def reason(self) -> str:
        return self.get("reason")

    def label(self) -> str:
        wildcards = ", ".join(f"{k}={v}" for k, v in self.wildcards)
        return f"{self.rule}({wildcards})" if wildcards else self.rule


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    nothing_to_do: bool = False
    text: str = ""

    @property
    def counts(self) -> Counter:
        return Counter(job.rule for job in self.jobs)

    def of(self, rule: str) -> list[Job]:
        return [job for job in self.jobs if job.rule == rule]

    def wildcard_values(self, name: str) -> set[str]:
        return {job.wc[name] for job in self.jobs if name in job.wc}

    def summary(self) -> str:
        """`rule: count` per rule (in a stable order) and the total, for test output and assertion messages."""
        if not self.jobs:
            return "nothing to be done (0 jobs)"
        parts = [f"{rule}: {count}" for rule, count in sorted(self.counts.items())]
        return ", ".join(parts) + f"; total {len(self.jobs)}"

    def details(self) -> str:
        """Every job with its reason, as Snakemake gave it."""
        return "\n".join(f"  {job.label()}: {job.reason}" for job in sorted(self.jobs, key=Job.label))


_BLOCK_START = re.compile(r"^(?:local)?(?:rule|checkpoint) (?P<rule>[A-Za-z_][A-Za-z0-9_]*):\s*$")
_FIELD = re.compile(r"^\s+(?P<key>[a-z_]+): (?P<value>.*)$")
_STATS_ROW = re.compile(r"^(?P<rule>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<count>\d+)\s*$")
NOTHING_TO_DO = "Nothing to be done"


def _parse_wildcards(value: str) -> tuple[tuple[str, str], ...]:
    # Wildcard values are names matching [A-Za-z0-9][A-Za-z0-9_-]* (or `_reference`), so ", " and "=" are safe.
    pairs = []
    for item in value.split(", "):
        key, _, val = item.partition("=")
        pairs.append((key.strip(), val.strip()))
    return tuple(sorted(pairs))


def _job_stats(lines: list[str]) -> Counter | None:
    """The `Job stats:` table (rule -> count), or None when the output has none."""
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return None
    counts: Counter = Counter()
    for line in lines[start + 1:]:
        match = _STATS_ROW.match(line.strip())
        if line.strip().startswith(("job ", "---")) or not line.strip():
            continue
        if not match:
            break
        if match["rule"] == "total":
            counts["<total>"] = int(match["count"])
            break
        counts[match["rule"]] = int(match["count"])
    return counts


def parse_plan(text: str, check_stats: bool = True) -> Plan:
    """Parse `snakemake -n` console output into jobs; check the result against the Job stats table."""
    lines = text.splitlines()
    jobs = []
    i = 0
    while i < len(lines):
        start = _BLOCK_START.match(lines[i])
        i += 1
        if not start:
            continue
        fields = []
        while i < len(lines):
            match = _FIELD.match(lines[i])
            if not match:
                break
            fields.append((match["key"], match["value"].strip()))
            i += 1
        wildcards = next((_parse_wildcards(v) for k, v in fields if k == "wildcards"), ())
        jobs.append(Job(start["rule"], wildcards, tuple(fields)))
    plan = Plan(jobs, NOTHING_TO_DO in text, text)
    if check_stats:
        stats = _job_stats(lines)
        if plan.nothing_to_do:
            assert not jobs, f"Snakemake said '{NOTHING_TO_DO}' yet listed jobs:\n{plan.details()}"
        else:
            assert stats is not None, f"no 'Job stats' table in the dry-run output:\n{text[-3000:]}"
            total = stats.pop("<total>", None)
            assert stats == plan.counts and total == len(jobs), (
                f"parsed {len(jobs)} job blocks {dict(plan.counts)} but the Job stats table says {total}: "
                f"{dict(stats)}; has Snakemake's output format changed?"
            )
    return plan


@overload
def dry_run(workdir: Path, *args: str, check: Literal[True] = ...) -> Plan: ...


@overload
def dry_run(workdir: Path, *args: str, check: Literal[False]) -> Run: ...


def dry_run(workdir: Path, *args: str, check: bool = True) -> Plan | Run:
    """Snakemake's plan for `workdir` (targets and options in `args`); fails the test if Snakemake fails.

    With check=False: the `Run` itself, whatever its exit code, for a test that asserts the failure and its message.
    """
    run = snakemake(workdir, "--dry-run", *args, timeout=DRY_RUN_TIMEOUT)
    if not check:
        return run
    return parse_plan(run.check().output)


def say(config: pytest.Config, message: str) -> None:
    """Print past pytest's output capture, so timings and job counts show in every test run's output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(message)
        return
    with capture.global_and_fixture_disabled():
        print(message)


# ---- files ----------------------------------------------------------------------------------------------------


def file_digests(root: Path, pattern: str = "**/*") -> dict[str, str]:
    """sha256 of every file under `root` matching `pattern`, keyed by path relative to `root`."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob(pattern)) if p.is_file()}


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def wait_for(condition, timeout: float, interval: float = 0.01, what: str = "condition") -> float:
    """Poll `condition()` until true; returns the seconds waited. Fails the test on timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


# ---- the full default run, once per session ------------------------------------------------------------------


@dataclass
class FinishedRun:
    workdir: Path
    run: Run
    seconds: float


_DEFAULT_RUN: dict[str, FinishedRun] = {}


@pytest.fixture(scope="session")
def finished_default_run(tmp_path_factory, pytestconfig) -> FinishedRun:
    """The full default workflow (config.yaml as shipped), run from scratch with --cores 2 in a tmp copy.

    Test modules import this fixture; pytest then registers one definition per module, so the run itself is
    cached here and happens once per session whichever module asks first.
    Tests may dry-run in it freely; a test that changes files there must put them back (see
    tests/workflow/test_incremental.py).
    """
    if "run" not in _DEFAULT_RUN:
        workdir = copy_workflow(tmp_path_factory.mktemp("default_run") / "workflow")
        start = time.monotonic()
        run = snakemake(workdir)
        seconds = time.monotonic() - start
        _DEFAULT_RUN["run"] = FinishedRun(workdir, run, seconds)
        say(pytestconfig, f"\n  [full default workflow] {len(run.jobs.jobs)} jobs in {seconds:.0f} s "
                          f"({run.jobs.summary()})")
    finished = _DEFAULT_RUN["run"]
    finished.run.check()
    return finished
