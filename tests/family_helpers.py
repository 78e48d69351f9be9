"""What the model-family tests (tests/unit/methods/test_flux*.py) share: a LoRA entry and its training on a tiny
model of the family, the loop's view of a config, and a recorder of the transformer's calls."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from conceptbench.methods import method_params
from conceptbench.methods.job import train_concept


def lora_params(family, **overrides) -> dict:
    """A short LoRA entry with the family's defaults filled in, as start-up makes it."""
    return method_params({"type": "lora", "steps": 6, "learning_rate": 1e-2, "checkpoint_every": 3, **overrides},
                         family)


def loop_config(settings: dict):
    """What Family.objective reads of the loop's TrainingConfig: the family's settings (no loss options)."""
    return SimpleNamespace(family_settings=dict(settings), snr_gamma=None, noise_offset=0.0)


def train_lora(tmp_path: Path, model, targets, family, **overrides) -> tuple[Path, dict]:
    """Train a LoRA of blue_dog (the targets as class images too, where the entry asks for a prior) into
    tmp_path/ckpt; returns the checkpoint folder and the params."""
    params = lora_params(family, **overrides)
    out = tmp_path / "ckpt"
    train_concept(base_model=model, targets_dir=targets, class_images_dir=targets, concept_name="blue_dog",
                  class_noun="dog", method_name="lora", params=params, out_dir=out, state_dir=tmp_path / "state",
                  log=lambda *_: None)
    return out, params


def transformer_calls(pipe) -> list[dict]:
    """Record the keyword arguments of every call of the pipeline's transformer."""
    calls, forward = [], pipe.transformer.forward

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return forward(*args, **kwargs)

    pipe.transformer.forward = recording
    return calls
