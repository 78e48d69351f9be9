"""Writing outputs so that a killed job never leaves something that looks finished."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class AtomicFolder:
    """Write a folder under a temporary name and rename it into place only when complete.

    A job killed mid-way leaves `<name>.partial`, never a half-filled `<name>` that looks finished.
    """

    def __init__(self, final: str | Path):
        self.final = Path(final)
        self.partial = self.final.with_name(self.final.name + ".partial")

    def __enter__(self) -> Path:
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        return self.partial

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
            return False
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.partial, self.final)
        return False
