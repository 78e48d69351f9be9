"""The library's layers (pyproject.toml's import-linter contract, README: Layout): kept by the code as it is, and
broken by an import that runs back up."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from workflow_helpers import REPO


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([lint, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_library_keeps_its_layers():
    done = _lint_imports(REPO)
    assert done.returncode == 0 and "1 kept, 0 broken" in done.stdout, done.stdout + done.stderr


def test_an_import_back_up_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "conceptbench", tmp_path / "conceptbench", ignore=shutil.ignore_patterns("weights"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / "conceptbench" / "scoring" / "arrays.py", "a") as handle:
        handle.write("\nfrom conceptbench.workflow import plan  # noqa: E402,F401  (scoring reaching up)\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout + done.stderr
    assert "conceptbench.scoring.arrays -> conceptbench.workflow.plan" in done.stdout
