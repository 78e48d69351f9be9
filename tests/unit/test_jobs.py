"""The job set-up every workflow script shares (conceptbench.jobs): imported first, it makes heavy imports cheaper."""

import ast
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
