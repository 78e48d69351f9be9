"""The code digest a rule passes as a param (conceptbench.workflow.code): it changes with the logic of the rule's
script and of every conceptbench module the script reaches by imports, and not with comments, docstrings or
formatting, nor with modules the script never imports."""

import pytest

from conceptbench.workflow import code


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A small stand-in for conceptbench: the script imports `a`, which imports `b` inside a function; `c` is
    imported by nobody."""
    root = tmp_path / "conceptbench"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text('"""The package."""\n')
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "a.py").write_text('"""A."""\n\n\ndef f(x):\n    from conceptbench.sub import b\n\n    return b.g(x) + 1\n')
    (root / "sub" / "b.py").write_text("def g(x):\n    return 2 * x\n")
    (root / "sub" / "c.py").write_text("VALUE = 3\n")
    (tmp_path / "script.py").write_text('"""Rule x."""\nfrom conceptbench.sub.a import f\n\nprint(f(1))\n')
    monkeypatch.setattr(code, "PACKAGE_ROOT", root)
    code.code_digest.cache_clear()
    yield tmp_path
    code.code_digest.cache_clear()


def digest(package):
    code.code_digest.cache_clear()
    return code.code_digest(package / "script.py")


def test_comments_docstrings_and_formatting_change_nothing(package):
    before = digest(package)
    b = package / "conceptbench" / "sub" / "b.py"
    b.write_text('"""Now with a docstring."""\n\n\ndef g(x):  # a comment\n    """Twice x."""\n    return 2 * (x)\n')
    script = package / "script.py"
    script.write_text(script.read_text().replace('"""Rule x."""', '"""Rule x, described at length."""\n# note'))
    assert digest(package) == before


def test_a_logic_change_in_the_script_or_any_module_it_reaches_changes_the_digest(package):
    before = digest(package)
    b = package / "conceptbench" / "sub" / "b.py"
    b.write_text("def g(x):\n    return 3 * x\n")  # reached through a's lazy import
    changed = digest(package)
    assert changed != before
    (package / "script.py").write_text('from conceptbench.sub.a import f\n\nprint(f(2))\n')
    assert digest(package) not in (before, changed)


def test_a_module_the_script_never_imports_changes_nothing(package):
    before = digest(package)
    (package / "conceptbench" / "sub" / "c.py").write_text("VALUE = 4\n")
    assert digest(package) == before
