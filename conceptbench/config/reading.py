"""Read a YAML config file strictly: every problem names the file and, where YAML knows it, the line.

PyYAML alone accepts a duplicate key (the last one silently wins: a concept would get another concept's photos),
reads an empty file as None and a list as a list; here each of those is an error a user can act on.
"""

from __future__ import annotations

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
