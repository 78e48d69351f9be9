"""`python -m conceptbench.cost CONFIG_FILE [BASE_DIR]`: what a run of the config will cost, before any job runs."""

from __future__ import annotations

import sys

from conceptbench.config.reading import ConfigFileError, problem_header, read_config_file
from conceptbench.config.validate import ConfigError
from conceptbench.cost.report import cost_report
from conceptbench.cost.throughput import family_of
from conceptbench.workflow.plan import Plan


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python -m conceptbench.cost CONFIG_FILE [FOLDER_PATHS_ARE_RELATIVE_TO (default: ., as for "
              "snakemake run there)]", file=sys.stderr)
        return 2
    path, base_dir = args[0], args[1] if len(args) > 1 else "."
    try:
        plan = Plan(read_config_file(path), base_dir)
    except (ConfigError, ConfigFileError, ValueError) as error:
        # The workflow's own start-up message (rules/common.smk), so a config fails here as it would there.
        print(f"{problem_header([path], {})}\n{error}", file=sys.stderr)
        return 1
    print(cost_report(plan, family_of(plan.base_model_source, base_dir), path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
