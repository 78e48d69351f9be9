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


def sort_safetensors_metadata(path: str | Path) -> None:
    """Rewrite a .safetensors file with its `__metadata__` keys sorted; tensors and their bytes stay as they are.

    The safetensors writer keeps metadata in a hash map whose order changes from process to process, so a file
    with two or more metadata entries (a LoRA file: format + adapter config) differs between identical runs.
    """
    import json
    import struct

    path = Path(path)
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    # __metadata__ first, the tensors in their written order (their offsets index the data that follows).
    ordered = {key: header[key] for key in sorted(header, key=lambda k: k != "__metadata__")}
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the format aligns the data to 8 bytes
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length:])
    os.replace(tmp, path)
