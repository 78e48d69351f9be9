"""Optional packages that some method settings need, checked without importing them: start-up calls this before any
job runs, and the job again where it runs (a conda env or another node may lack what the head node has)."""

from __future__ import annotations

import importlib.metadata
import importlib.util

# bitsandbytes from this release on runs its 8-bit optimizers on a CPU too and keeps their quantisation state in a
# nested dict of its state_dict (the training loop saves both); the version tested here is 0.50.2.
BITSANDBYTES_MIN = (0, 50)
BITSANDBYTES_INSTALL = "pip install 'bitsandbytes>=0.50,<1' (or pip install -e '.[adamw8bit]')"


def _installed_version(name: str) -> str | None:
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.metadata.version(name)


def bitsandbytes_problem() -> str | None:
    """Why `optimizer: adamw8bit` cannot run here (bitsandbytes missing or too old), with the fix; None if it can."""
    version = _installed_version("bitsandbytes")
    if version is None:
        return f"adamw8bit needs bitsandbytes, which is not installed; {BITSANDBYTES_INSTALL}, or use optimizer: adamw"
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if numbers < BITSANDBYTES_MIN:
        return (f"adamw8bit needs bitsandbytes {'.'.join(map(str, BITSANDBYTES_MIN))} or newer (its CPU support and "
                f"state layout), not {version}; {BITSANDBYTES_INSTALL}, or use optimizer: adamw")
    return None


def extra_problems(params: dict) -> list[str]:
    """What a method entry's settings need that this environment lacks, each naming the setting and the fix."""
    if params.get("optimizer") == "adamw8bit":
        problem = bitsandbytes_problem()
        if problem:
            return [f"optimizer: {problem}"]
    return []
