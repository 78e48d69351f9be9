"""`python -m conceptbench.config FILE [BASE_DIR]`: every problem of a config file, without Snakemake."""

from __future__ import annotations

import sys

from conceptbench.config.validate import ConfigError, load_config_file


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python -m conceptbench.config CONFIG_FILE [FOLDER_PATHS_ARE_RELATIVE_TO (default: .)]",
              file=sys.stderr)
        return 2
    try:
        config = load_config_file(args[0], args[1] if len(args) > 1 else ".")
    except ConfigError as exc:
        print(f"config problem:\n{exc}", file=sys.stderr)
        return 1
    print(f"{args[0]}: ok ({len(config['_concepts'])} concepts, {len(config['methods'])} methods)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
