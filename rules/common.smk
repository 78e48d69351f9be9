# Check the config once, before any job runs, and build the plan every rule file reads (conceptbench/workflow/plan.py).
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config

from conceptbench.config.validate import ConfigError
from conceptbench.config.reading import ConfigFileError, command_line_values, problem_header, read_config_file
from conceptbench.scoring.registry import metric_axes
from conceptbench.names import NAME_PATTERN
from conceptbench.runs import REFERENCE_RUN, RUN_PATTERN
from conceptbench.workflow.code import code_digest
from conceptbench.workflow.plan import Plan

# The embedded default, unless --configfile names a preset: a preset then stands alone instead of being merged
# over the default (which would, e.g., add the demo's tiny method entries to a real run).
DEFAULT_CONFIG_FILE = "config.yaml"
# The --config values alone (overwrite_config also holds the --configfile presets' settings).
COMMAND_LINE = workflow.config_settings.config

try:
    if workflow.overwrite_configfiles:
        # Snakemake has read them already; read them again strictly, for what it lets pass (duplicate keys).
        for path in workflow.overwrite_configfiles:
            read_config_file(path)
    else:
        settings = read_config_file(DEFAULT_CONFIG_FILE)
        update_config(settings, config)  # `--config key=value` still overrides the file
        config.clear()
        config.update(settings)
    # Snakemake keeps nested --config values as text ('0'): read them as a config file's (config/reading.py).
    update_config(config, command_line_values(COMMAND_LINE))
    # Paths relative to the working directory, like every other path here: absolute ones would end up in the
    # jobs' params and inputs, and a finished run moved or copied elsewhere would re-run from scratch.
    PLAN = Plan(config, Path("."))
except (ConfigError, ConfigFileError, ValueError) as error:
    # Say where the settings came from: the file(s), and any --config values (which override them).
    files = [str(path) for path in workflow.overwrite_configfiles] or [DEFAULT_CONFIG_FILE]
    raise WorkflowError(f"{problem_header(files, COMMAND_LINE)}\n{error}") from None

ENV = "../envs/conceptbench.yaml"

# The jobs' scripts import the same conceptbench as this process, in a venv, a conda env or on a SLURM node alike:
# its folder goes on the jobs' PYTHONPATH (they inherit this environment), so no script needs a path of its own.
import conceptbench

LIBRARY_ROOT = str(Path(conceptbench.__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join([LIBRARY_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])



def code_of(script: str) -> str:
    """The digest of a rule's script and of the library code it imports (conceptbench/workflow/code.py): a param, so
    that a logic change re-runs the rule's jobs and a comment does not."""
    return code_digest(Path(workflow.basedir) / "scripts" / f"{script}.py")


# Local runs (no cluster executor): the jobs share this machine's GPUs, one lease each (conceptbench/gpus.py). Checked
# when the run starts (onstart: not in dry runs, and only there is the executor known): `gpus:` against the GPUs
# there are, and those against Snakemake's gpu limit. The jobs learn `gpus:` from the environment, not from a param,
# so changing it re-runs nothing. A cluster's jobs get their GPUs from the cluster (CUDA_VISIBLE_DEVICES).
def check_local_gpus():
    from conceptbench import gpus
    from conceptbench.config.checks import local_gpu_problems

    if "gpus" in PLAN.cfg:
        os.environ[gpus.COUNT_VARIABLE] = str(PLAN.cfg["gpus"])
    else:
        os.environ.pop(gpus.COUNT_VARIABLE, None)
    wanted = "gpus" in PLAN.cfg or PLAN.device == "cuda"  # nvidia-smi only where the answer matters
    limit = workflow.global_resources.get("gpu")
    gpu_problems, gpu_warnings = local_gpu_problems(PLAN.cfg, gpus.visible_devices() if wanted else None,
                                                    getattr(limit, "value", limit), dry_run=False)
    for warning in gpu_warnings:
        print(f"conceptbench: warning: {warning}", file=sys.stderr)
    if gpu_problems:
        files = [str(path) for path in workflow.overwrite_configfiles] or [DEFAULT_CONFIG_FILE]
        raise WorkflowError(problem_header(files, COMMAND_LINE) + "\n" + "\n".join(f"- {p}" for p in gpu_problems))


# Warm starts (conceptbench/warm.py): when the jobs run on this machine, one server imports torch, diffusers and
# transformers once, and each job's script runs in a fork of it instead of importing them again (~5 s per job).
# Off with `--config warm_start=false`; jobs submitted elsewhere (SLURM) always start cold.
from conceptbench import warm

WARM_START = []


def uses_gpu() -> bool:
    """Whether this run's jobs put their models on a GPU: those start cold, since CUDA does not survive a fork (and
    next to their work on a GPU, 5 s of imports hardly count)."""
    from conceptbench import gpus

    return PLAN.device == "cuda" or (PLAN.device == "auto" and bool(gpus.visible_devices().ids))


onstart:
    if workflow.is_main_process and workflow.local_exec:
        check_local_gpus()
        if PLAN.cfg["warm_start"] and not uses_gpu():
            WARM_START.append(warm.start_server("logs/warm_start.log"))


def end_of_run():
    for server in WARM_START:
        server.stop()
    # The profile's max-jobs-per-timespan (10000/60s) makes each scheduling pass arm a 60-s threading.Timer that
    # would only wake the scheduler; they are not daemons, so Snakemake's process waited for the last one, up to a
    # minute after the run had ended. The run is over: cancel them.
    import threading

    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


onsuccess:
    end_of_run()


onerror:
    end_of_run()
