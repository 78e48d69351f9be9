"""What the model-family tests (tests/unit/methods/test_flux*.py) share: a LoRA entry and its training on a tiny
model of the family, the loop's view of a config, and a recorder of the transformer's calls."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from workflow_helpers import KILL_RUNNER

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


def assert_text_encoder_lora_refused(tmp_path: Path, model, targets, family) -> None:
    """A family whose pipeline's load_lora_weights adapts the transformer only refuses a text-encoder LoRA (it would
    be lost) at start-up and before training, by name."""
    import pytest

    from conceptbench.config.checks import method_family_problems

    entry = {"type": "lora", "train_text_encoder": True}
    assert method_family_problems(family, {"lora": entry}) == [
        f"methods.lora: train_text_encoder is refused on {family.title} models: its pipeline's load_lora_weights "
        "adapts the transformer only; remove it"]
    with pytest.raises(ValueError, match=re.escape(f"train_text_encoder is refused on {family.title}")):
        train_concept(base_model=model, targets_dir=targets, class_images_dir=None, concept_name="blue_dog",
                      class_noun="dog", method_name="lora", params=method_params({**entry, "steps": 2}, family),
                      out_dir=tmp_path / "out", state_dir=tmp_path / "state", log=lambda *_: None)


def _run(spec: dict, hash_seed: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(KILL_RUNNER), json.dumps(spec)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONHASHSEED": hash_seed})


def _digests(out: Path) -> dict[str, str]:
    """sha256 of every output file; metadata.json without the run's record (when, where, how long)."""
    digests = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "metadata.json":
            record = json.loads(data)
            data = json.dumps({k: v for k, v in record.items()
                               if k not in ("attempts", "wall_time_s", "peak_memory_mb")}, sort_keys=True).encode()
        digests[path.relative_to(out).as_posix()] = hashlib.sha256(data).hexdigest()
    return digests


def assert_trainings_byte_identical_and_resumable(tmp_path: Path, model, targets, family, method_type="lora",
                                                  artifact="pytorch_lora_weights.safetensors", **overrides) -> None:
    """A training (8 steps, state every 3; LoRA with class prior unless `method_type` says otherwise) run twice in
    processes with other string-hash seeds writes byte-identical files (set order must not leak into them), and one
    killed with SIGKILL after step 5 resumes from its state of step 3 to the same files."""
    if method_type == "lora":
        params = lora_params(family, steps=8, checkpoint_every=3, prior_preservation=True, **overrides)
    else:
        params = method_params({"type": method_type, "steps": 8, "learning_rate": 1e-2, "checkpoint_every": 3,
                                **overrides}, family)

    def spec(name):
        return {"base_model": str(model), "targets_dir": str(targets), "class_images_dir": str(targets),
                "concept_name": "blue_dog", "class_noun": "dog", "method_name": method_type, "params": params,
                "out_dir": str(tmp_path / name / "out"), "state_dir": str(tmp_path / name / "state")}

    for name, seed in (("first", "1"), ("second", "2")):
        done = _run(spec(name), seed)
        assert done.returncode == 0, done.stderr
    first = _digests(tmp_path / "first" / "out")
    assert artifact in first and "loss.csv" in first
    assert _digests(tmp_path / "second" / "out") == first

    killed = _run({**spec("resumed"), "signal": "SIGKILL", "at_step": 5}, "0")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _run(spec("resumed"), "0")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from saved state at step 3" in resumed.stdout + resumed.stderr
    assert _digests(tmp_path / "resumed" / "out") == first
