# Check the config once, before any job runs, and build the plan every rule file reads (conceptbench/plan.py).
from pathlib import Path

from snakemake.exceptions import WorkflowError

from conceptbench.config import ConfigError
from conceptbench.metrics import metric_axes
from conceptbench.names import NAME_PATTERN
from conceptbench.plan import REFERENCE, Plan

try:
    # Paths relative to the working directory, like every other path here: absolute ones would end up in the
    # jobs' params and inputs, and a finished run moved or copied elsewhere would re-run from scratch.
    PLAN = Plan(config, Path("."))
except (ConfigError, ValueError) as error:
    raise WorkflowError(f"config problem (fix it in your config file):\n{error}") from None

ENV = "../envs/conceptbench.yaml"

