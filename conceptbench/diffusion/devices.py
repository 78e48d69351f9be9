"""The device a job runs its models on."""

from __future__ import annotations

import torch


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device: cuda, but no CUDA device is visible; set device: cpu or auto")
    return device
