"""Read a YAML config file strictly: every problem names the file and, where YAML knows it, the line.

PyYAML alone accepts a duplicate key (the last one silently wins: a concept would get another concept's photos),
reads an empty file as None and a list as a list; here each of those is an error a user can act on.

`--config` values, which Snakemake reads itself, are read again here as a config file's would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml


class ConfigFileError(ValueError):
    """A config file that cannot be read as a mapping of settings; the message has the file and line."""


class _DuplicateKey(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in any mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKey(line, f"key {key!r} appears twice in the same mapping (first on line "
                                          f"{seen[key]}); YAML would keep only the last one. Remove or rename one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict:
    """The settings in a YAML file, as a dict; ConfigFileError naming `path` (and line) for anything else."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read the config file ({exc})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            raise ConfigFileError(f"{path}, line {number}: a tab in the indentation; YAML indents with spaces only, "
                                  "replace the tab with spaces")
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as exc:
        raise ConfigFileError(f"{path}, line {exc.line}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        raise ConfigFileError(f"{where}: the file is not valid YAML: {exc.problem or exc}"
                              + (f" ({exc.context})" if exc.context else "")) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: the file is not valid YAML: {exc}") from None
    if data is None:
        raise ConfigFileError(f"{path}: the config file is empty; copy config.yaml and edit it, "
                              "or name a preset from config/")
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: the top level must be a mapping of settings (key: value lines such as "
                              f"'resolution: 512'), not a {type(data).__name__}")
    return data


# Where a --config text is read as a number or a boolean. YAML 1.1's other booleans (yes, no, on, off) stay words:
# Snakemake drops the quotes a user would write to keep them text, and `mixed_precision: no` is a word.
_BOOLEANS = ("true", "false")


def _command_line_scalar(text: str):
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # e.g. "{c} on a beach", quoted on the command line
    if isinstance(value, bool):
        return value if text.strip().lower() in _BOOLEANS else text
    return value if value is None or isinstance(value, (int, float)) else text  # a date stays text, as does 'a: b'


def command_line_values(given: Mapping) -> dict:
    """Snakemake's `--config` values as a config file would give them.

    Snakemake reads a top-level value as a number where it can, but a nested one (`generation={guidance_scale: 0}`)
    with YAML's BaseLoader, which keeps every scalar as text ('0'); each text is read again here as YAML reads a
    scalar: '0' -> 0, '7.0e-3' -> 0.007, 'true' -> True, 'null' -> None ('7e-3' stays text, as in a file, and is
    refused with the fix). Mapping keys stay as they are.
    """
    def read(value):
        if isinstance(value, Mapping):
            return {key: read(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [read(item) for item in value]
        return _command_line_scalar(value) if isinstance(value, str) else value

    return read(given)


def problem_header(files: list[str], given: Mapping) -> str:
    """The first line of a start-up problem: where to fix it, the config file(s) and any `--config` values.

    `given`: the --config values alone (Snakemake's config_settings.config; its overwrite_config also holds the
    --configfile presets' settings, which are not command-line values)."""
    where = ", ".join(files)
    if given:
        where += f", or the --config values {sorted(given)}"
    return f"config problem (fix it in {where}):"
