"""The conda environment the rules use pins the same packages as pyproject.toml."""


import tomllib
import yaml
from workflow_helpers import REPO


def test_conda_env_pins_agree_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "conceptbench.yaml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item)
    assert sorted(pip_section) == sorted(project)


def test_every_rule_uses_the_env_file():
    rules = (REPO / "rules")
    text = "".join(path.read_text() for path in rules.glob("*.smk"))
    assert text.count("\nrule ") == text.count("conda:\n        ENV")
    assert (REPO / "rules" / "common.smk").read_text().count('"../envs/conceptbench.yaml"') == 1
