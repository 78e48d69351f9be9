"""The code a rule's outputs depend on, as a digest that the rule passes as a param: a logic change in its script
or in any conceptbench module the script imports (directly or through others) re-runs the rule's jobs; a change
of comments, docstrings or formatting does not (the digest is of the normalised syntax tree).

Snakemake's own code trigger compares a script's text and time, so it re-runs a job for a comment and never for the
library; the profiles turn it off (`rerun-triggers`) and this digest takes its place.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # conceptbench/


def _normalised(path: Path) -> str:
    """The module's syntax tree without docstrings, line numbers or comments."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def _module_path(name: str) -> Path | None:
    """conceptbench.scoring.rows -> conceptbench/scoring/rows.py (or a package's __init__.py); None if not ours."""
    parts = name.split(".")
    if parts[0] != "conceptbench":
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """The conceptbench modules a file imports, anywhere in it (lazy imports inside functions included), and the
    packages above them (whose __init__ runs first)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in found if _module_path(name) is not None}


@functools.cache
def code_digest(script: str | Path) -> str:
    """A short hash of a rule's script and of every conceptbench module it reaches by imports, each normalised."""
    script = Path(script)
    seen, todo = set(), sorted(_imports(script))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imports(_module_path(name)) - seen)
    digest = hashlib.sha256(_normalised(script).encode())
    for name in sorted(seen):
        digest.update(f"\0{name}\0{_normalised(_module_path(name))}".encode())
    return digest.hexdigest()[:16]
