"""Names of concepts, methods and other things that become wildcards and folder names."""

import re

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*"
_NAME_RE = re.compile(NAME_PATTERN)


def check_name(name: str, what: str) -> str:
    """Return `name` if it is usable as a wildcard and folder name, else raise ValueError naming `what`."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"{what} name {name!r} is not allowed: use letters, digits, '_' and '-' only, "
            f"starting with a letter or digit (pattern {NAME_PATTERN}); no '/', spaces or dots."
        )
    return name


def slugify(text: str) -> str:
    """Turn free text (a class noun such as 'stuffed animal') into a name that matches NAME_PATTERN."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text.strip()).strip("_").lower()
    if not slug:
        raise ValueError(f"cannot make a name from {text!r}: it has no letters or digits")
    return slug
