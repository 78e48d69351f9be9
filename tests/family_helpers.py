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


def assert_refused_before_training(tmp_path: Path, model, targets, family, method_type: str) -> None:
    """A method type that does not apply to the family stops the training at once, by name, writing nothing."""
    import re

    import pytest

    params = method_params({"type": method_type, "steps": 2}, family)
    with pytest.raises(ValueError, match=re.escape(f"method {method_type} ({method_type}) is refused on {family.title}")):
        train_concept(base_model=model, targets_dir=targets, class_images_dir=targets, concept_name="blue_dog",
                      class_noun="dog", method_name=method_type, params=params, out_dir=tmp_path / "out",
                      state_dir=tmp_path / "state", log=lambda *_: None)
    assert not (tmp_path / "out").exists()


def load_saved_lora(out: Path, targets: list[str], pipeline_class, model, rank: int = 4, alpha: int = 8):
    """Check a LoRA checkpoint of a transformer family against the stock loader: one safetensors file of the
    transformer's adapters, every one of `targets` adapted, rank and alpha in its adapter metadata; loaded into a
    fresh `pipeline_class` with the documented call, every trained module is adapted at alpha / rank. Returns that
    pipeline."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    lora = out / "pytorch_lora_weights.safetensors"
    assert not list(out.rglob("*.bin")), "weights must be safetensors only"
    keys = load_file(str(lora))
    assert keys and all(key.startswith("transformer.") for key in keys)
    adapted = {key.split(".lora")[0].removeprefix("transformer.") for key in keys}
    for target in targets:
        assert any(name.endswith(target) for name in adapted), target
    with safe_open(str(lora), framework="pt") as handle:
        metadata = json.loads(handle.metadata()["lora_adapter_metadata"])
    assert (metadata["transformer.r"], metadata["transformer.lora_alpha"]) == (rank, alpha)

    tuned = pipeline_class.from_pretrained(model, local_files_only=True)
    tuned.load_lora_weights(str(out), weight_name=lora.name)
    assert {s for m in tuned.transformer.modules() if hasattr(m, "scaling") for s in m.scaling.values()} == \
        {alpha / rank}
    loaded = {name for name, module in tuned.transformer.named_modules() if hasattr(module, "lora_A")}
    assert loaded == adapted  # every trained module, none skipped by the loader
    return tuned
