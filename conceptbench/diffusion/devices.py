"""The device a job runs its models on."""

from __future__ import annotations

import os

import torch

from conceptbench.gpus import no_gpu_advice


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        # In a workflow job the GPU lease (conceptbench/gpus.py) has seen a GPU already, so the likely cause here is
        # torch itself (a CPU-only build, a driver too old for its CUDA); outside one, nothing may be visible.
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA: a CPU-only build"
        raise RuntimeError(
            f"config device: cuda, but torch {torch.__version__} ({build}) sees no CUDA device "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); {no_gpu_advice()}, and "
            "that torch is a CUDA build the driver supports (python -c 'import torch; print(torch.cuda.is_available())')")
    return device
