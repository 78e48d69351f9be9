"""Writing outputs so that a killed job never leaves something that looks finished."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

TMP_SUFFIX = ".tmp"  # what write_atomically writes before the rename


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


class ResumableFolder(AtomicFolder):
    """An AtomicFolder whose `<name>.partial` outlives a failed or killed attempt, for work that is slow to redo.

    `key` names everything that decides the folder's contents: an attempt with the same key goes on filling the
    partial folder left by an earlier one, an attempt with another key empties it first. `resumed` and
    `discarded` say which happened. The key is kept in the partial folder and removed before it takes the final
    name, so the finished folder holds only what the caller wrote.
    """

    KEY_FILE = ".resume_key"

    def __init__(self, final: str | Path, key: str):
        super().__init__(final)
        self.key = key
        self.resumed = self.discarded = False

    def __enter__(self) -> Path:
        record = self.partial / self.KEY_FILE
        self.resumed = record.is_file() and record.read_text() == self.key
        if self.resumed:
            # A kill mid-write leaves a temporary file: the write it belongs to is redone.
            for leftover in self.partial.rglob(f"*{TMP_SUFFIX}"):
                leftover.unlink()
            return self.partial
        self.discarded = self.partial.exists()
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        write_atomically(record, lambda tmp: tmp.write_text(self.key))
        return self.partial

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return False  # the partial folder stays for the next attempt
        (self.partial / self.KEY_FILE).unlink()
        shutil.rmtree(self.final, ignore_errors=True)
        os.replace(self.partial, self.final)
        return False


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` writes the file under a temporary name beside `path`, then it takes its name at once: a kill
    mid-write leaves `<name>.tmp`, never a truncated `<name>`."""
    path = Path(path)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    write(tmp)
    os.replace(tmp, path)


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
