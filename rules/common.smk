# Check the config once, before any job runs, and build the plan every rule file reads (conceptbench/plan.py).
from pathlib import Path

from snakemake.exceptions import WorkflowError

from conceptbench.config import ConfigError
from conceptbench.names import NAME_PATTERN
from conceptbench.plan import REFERENCE, Plan

try:
    PLAN = Plan(config, Path.cwd())
except (ConfigError, ValueError) as error:
    raise WorkflowError(f"config problem (fix it in your config file):\n{error}") from None

ENV = "../envs/conceptbench.yaml"

