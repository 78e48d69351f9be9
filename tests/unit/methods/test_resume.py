"""A training killed mid-way (SIGKILL, or SIGTERM as SLURM sends) resumes from its saved state and ends with
weights bitwise identical to an uninterrupted run."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from workflow_helpers import KILL_RUNNER as RUNNER

from conceptbench.methods import method_params

ARTIFACT = {"lora": "pytorch_lora_weights.safetensors", "textual_inversion": "learned_embeds.safetensors",
            "dreambooth": "unet/diffusion_pytorch_model.safetensors",
            "pivotal_tuning": "pytorch_lora_weights.safetensors",  # and learned_embeds.safetensors
            "custom_diffusion": "pytorch_custom_diffusion_weights.safetensors"}  # and learned_embeds.safetensors


def _run(spec: dict | list, hash_seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, str(RUNNER), json.dumps(spec)], capture_output=True, text=True,
                          timeout=300, env=env)


# metadata.json is also the run's record: when and where each attempt ran, its wall time and memory.
RUN_RECORD = ("attempts", "wall_time_s", "peak_memory_mb")


def _checkpoint_digests(out_dir: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "metadata.json":
            record = json.loads(data)
            assert set(RUN_RECORD) <= set(record)
            data = json.dumps({k: v for k, v in record.items() if k not in RUN_RECORD}, sort_keys=True).encode()
        digests[path.relative_to(out_dir).as_posix()] = hashlib.sha256(data).hexdigest()
    return digests


METHODS = ("lora", "textual_inversion", "dreambooth", "pivotal_tuning", "custom_diffusion")


def _params(method_type: str) -> dict:
    prior = {} if method_type == "textual_inversion" else {"prior_preservation": True}
    return method_params({"type": method_type, "steps": 10, "checkpoint_every": 4, "learning_rate": 1e-2, **prior})


def _spec(base: Path, method_type: str, tiny_model: Path, dog_targets: Path) -> dict:
    return {"base_model": str(tiny_model), "targets_dir": str(dog_targets), "class_images_dir": str(dog_targets),
            "concept_name": "blue_dog", "class_noun": "dog", "method_name": method_type,
            "params": _params(method_type), "out_dir": str(base / method_type / "out"),
            "state_dir": str(base / method_type / "state")}


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_model, dog_targets) -> Path:
    """Each method trained without interruption, all in one process (string-hash seed 1): base/<method>/out."""
    base = tmp_path_factory.mktemp("straight")
    done = _run([_spec(base, m, tiny_model, dog_targets) for m in METHODS], hash_seed="1")
    assert done.returncode == 0, done.stderr
    return base


def test_two_trainings_write_byte_identical_files(tmp_path, straight, tiny_model, dog_targets):
    # The same trainings again in a process with another string-hash seed, as two runs by a user get: neither set
    # order (LoRA's target_modules) nor the safetensors writer's metadata order may leak into the files.
    done = _run([_spec(tmp_path, m, tiny_model, dog_targets) for m in METHODS], hash_seed="2")
    assert done.returncode == 0, done.stderr
    for method in METHODS:
        first, second = (_checkpoint_digests(base / method / "out") for base in (straight, tmp_path))
        assert ARTIFACT[method] in first and "metadata.json" in first
        assert first == second, (method, [name for name in first if first[name] != second.get(name)])


@pytest.mark.parametrize("method_type,sig", [("lora", "SIGKILL"), ("textual_inversion", "SIGKILL"),
                                             ("dreambooth", "SIGTERM"), ("pivotal_tuning", "SIGKILL"),
                                             ("custom_diffusion", "SIGKILL")])
def test_killed_training_resumes_to_identical_weights(tmp_path, straight, tiny_model, dog_targets, method_type, sig):
    resumed_dir = tmp_path / "resumed" / method_type
    spec = _spec(tmp_path / "resumed", method_type, tiny_model, dog_targets)

    # SIGKILL after step 6 leaves the state saved at step 4; SIGTERM after step 6 saves step 6 and exits.
    killed = _run({**spec, "signal": sig, "at_step": 6})
    assert killed.returncode == (-signal.SIGKILL if sig == "SIGKILL" else 1), killed.stderr
    assert not (resumed_dir / "out" / ARTIFACT[method_type]).exists()
    saved = json.loads((resumed_dir / "state" / "state.json").read_text())
    assert saved["step"] == (4 if sig == "SIGKILL" else 6)
    if sig == "SIGTERM":
        assert "SIGTERM received: state saved at step 6" in killed.stderr

    resumed = _run(spec)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from saved state at step {saved['step']}" in resumed.stdout + resumed.stderr

    straight_dir = straight / method_type
    weights = sorted(p.relative_to(straight_dir / "out") for p in (straight_dir / "out").rglob("*.safetensors"))
    assert Path(ARTIFACT[method_type]) in weights
    for name in weights:  # every weights file (pivotal tuning and custom diffusion have two)
        a, b = (load_file(str(d / "out" / name)) for d in (straight_dir, resumed_dir))
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].equal(b[key]), f"{name}: {key} differs after resume"
    losses = [(d / "out" / "loss.csv").read_text() for d in (straight_dir, resumed_dir)]
    assert losses[0] == losses[1]
    # metadata.json keeps the killed attempt, whose job log a re-run would replace.
    attempts = json.loads((resumed_dir / "out" / "metadata.json").read_text())["attempts"]
    assert [(a["from_step"], a["to_step"]) for a in attempts] == [(0, saved["step"]), (saved["step"], 10)]
    assert attempts[0]["stopped_by"] == (None if sig == "SIGKILL" else "SIGTERM") and attempts[1]["stopped_by"] is None
    straight_attempts = json.loads((straight_dir / "out" / "metadata.json").read_text())["attempts"]
    assert [(a["from_step"], a["to_step"]) for a in straight_attempts] == [(0, 10)]


def test_a_sigterm_during_a_periodic_save_stops_the_training_after_the_next_step(tmp_path, straight, tiny_model,
                                                                                   dog_targets):
    # SIGTERM while the state of step 4 is being written: that save records no stop, the job trains step 5, saves
    # it as stopped by SIGTERM and exits; a re-run resumes to the uninterrupted run's weights.
    spec = _spec(tmp_path, "lora", tiny_model, dog_targets)
    killed = _run({**spec, "signal": "SIGTERM", "at_step": 4, "during_save": True})
    assert killed.returncode == 1, killed.stderr
    assert "SIGTERM received: state saved at step 5" in killed.stderr
    saved = json.loads((tmp_path / "lora" / "state" / "state.json").read_text())
    assert saved["step"] == 5 and [a["stopped_by"] for a in saved["attempts"]] == ["SIGTERM"], saved

    resumed = _run(spec)
    assert resumed.returncode == 0, resumed.stderr
    a, b = (load_file(str(d / "lora" / "out" / ARTIFACT["lora"])) for d in (straight, tmp_path))
    assert a.keys() == b.keys() and all(a[key].equal(b[key]) for key in a)


# Every memory and loss option at once (bf16 autocast is real on a CPU, and so frozen modules in bf16): still
# bitwise after a kill. DreamBooth's frozen VAE and text encoder are kept at float32 on the host for its saving.
OPTIONS = {"gradient_checkpointing": True, "mixed_precision": "bf16", "frozen_dtype": "compute", "snr_gamma": 5.0,
           "noise_offset": 0.1}


@pytest.mark.parametrize("method_type,extra", [("lora", {}), ("dreambooth", {}), ("lora", {"optimizer": "adamw8bit"})],
                         ids=["lora", "dreambooth", "lora_adamw8bit"])
def test_killed_training_with_the_memory_and_loss_options_resumes_to_identical_weights(
        tmp_path, tiny_model, dog_targets, method_type, extra):
    if extra.get("optimizer") == "adamw8bit":
        pytest.importorskip("bitsandbytes")  # an optional extra (pip install -e '.[adamw8bit]')
    params = method_params({**_params(method_type), **OPTIONS, **extra})
    specs = {name: {**_spec(tmp_path / name, method_type, tiny_model, dog_targets), "params": params,
                    "device": "cpu"} for name in ("straight", "resumed")}
    assert _run(specs["straight"]).returncode == 0
    killed = _run({**specs["resumed"], "signal": "SIGKILL", "at_step": 6})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _run(specs["resumed"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from saved state at step 4" in resumed.stdout + resumed.stderr
    out = {name: tmp_path / name / method_type / "out" for name in specs}
    weights = sorted(p.relative_to(out["straight"]) for p in out["straight"].rglob("*.safetensors"))
    assert Path(ARTIFACT[method_type]) in weights
    for name in weights:
        a, b = (load_file(str(folder / name)) for folder in out.values())
        assert a.keys() == b.keys() and all(a[key].equal(b[key]) for key in a), f"{name} differs after resume"
    assert (out["straight"] / "loss.csv").read_text() == (out["resumed"] / "loss.csv").read_text()
    meta = json.loads((out["resumed"] / "metadata.json").read_text())
    assert meta["frozen_dtype"] == "bfloat16" and meta["mixed_precision"] == "bf16"
    assert {key: meta["hyperparameters"][key] for key in OPTIONS} == OPTIONS
    assert [a["frozen_dtype"] for a in meta["attempts"]] == ["bfloat16", "bfloat16"]


# The memory and loss options are part of the run's fingerprint: gradient checkpointing too, though it changes no
# weight (a state is resumed only by the run that wrote it). Each option's part in it: the next test but one.
MEMORY_AND_LOSS_OPTIONS = {"gradient_checkpointing": True, "frozen_dtype": "compute", "optimizer": "adamw8bit",
                           "snr_gamma": 5.0, "noise_offset": 0.1}


@pytest.mark.parametrize("setting, value", [("rank", 8), ("gradient_checkpointing", True)])
def test_state_of_other_settings_is_not_resumed(tmp_path, tiny_model, dog_targets, setting, value):
    base = {"type": "lora", "steps": 6, "checkpoint_every": 2, "learning_rate": 1e-2}
    spec = {"base_model": str(tiny_model), "targets_dir": str(dog_targets), "class_images_dir": None,
            "concept_name": "blue_dog", "class_noun": "dog", "method_name": "lora",
            "out_dir": str(tmp_path / "out"), "state_dir": str(tmp_path / "state")}
    killed = _run({**spec, "params": method_params(base), "signal": "SIGKILL", "at_step": 3})
    assert killed.returncode == -signal.SIGKILL
    changed = _run({**spec, "params": method_params({**base, setting: value})})
    assert changed.returncode == 0, changed.stderr
    assert "ignoring saved state" in changed.stdout + changed.stderr
    assert "resuming" not in changed.stdout + changed.stderr


def test_a_run_killed_after_its_last_step_is_restored_not_retrained(tmp_path, tiny_model, dog_targets):
    """SLURM's time limit can end a job after the training saved its outputs but before the job reported success;
    Snakemake then deletes the outputs, and the retry must put them back instead of training from step 0."""
    params = method_params({"type": "lora", "steps": 4, "learning_rate": 1e-2})
    spec = {"base_model": str(tiny_model), "targets_dir": str(dog_targets), "class_images_dir": None,
            "concept_name": "blue_dog", "class_noun": "dog", "method_name": "lora", "params": params,
            "out_dir": str(tmp_path / "out"), "state_dir": str(tmp_path / "state")}
    out, state = tmp_path / "out", tmp_path / "state"
    assert _run(spec).returncode == 0
    finished = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # What is left of the state: no resumable weights, only links to the outputs (no second copy on disk).
    assert sorted(p.name for p in state.iterdir()) == ["finished", "finished.json"]
    assert (state / "finished" / ARTIFACT["lora"]).stat().st_ino == (out / ARTIFACT["lora"]).stat().st_ino

    shutil.rmtree(out)  # Snakemake's clean-up of the job it saw fail
    retry = _run(spec)
    assert retry.returncode == 0, retry.stderr
    assert "finished in an earlier attempt" in retry.stdout and "training lora" not in retry.stdout, retry.stdout
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == finished

    # Other settings are another run: it trains, and the old outputs are not restored.
    shutil.rmtree(out)
    changed = _run({**spec, "params": method_params({**params, "rank": 8})})
    assert changed.returncode == 0, changed.stderr
    assert "training lora" in changed.stdout and "earlier attempt" not in changed.stdout, changed.stdout
    assert (out / "loss.csv").read_bytes() != finished[Path("loss.csv")]


def test_a_finished_training_is_reused_only_for_the_same_class_images_and_base_model(tmp_path, tiny_model,
                                                                                     dog_targets):
    """A retry restores a finished training only when every input is the same: the class images by content and the
    base model by its weights, not only by name (a re-made class prior or rebuilt weights is another run)."""
    from conceptbench.methods.job import train_concept

    class_images = tmp_path / "class_images"
    shutil.copytree(dog_targets, class_images)
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    params = method_params({"type": "lora", "steps": 2, "learning_rate": 1e-2, "prior_preservation": True})
    out, state = tmp_path / "out", tmp_path / "state"
    spec = dict(base_model=str(model), targets_dir=dog_targets, class_images_dir=class_images, concept_name="blue_dog",
                class_noun="dog", method_name="lora", params=params, out_dir=out, state_dir=state)

    def retry() -> str:
        shutil.rmtree(out, ignore_errors=True)  # Snakemake's clean-up of a job it re-runs
        lines: list[str] = []
        train_concept(**spec, log=lines.append)
        return "\n".join(lines)

    retry()
    assert "finished in an earlier attempt" in retry()  # nothing changed: restored
    first = sorted(class_images.iterdir())[0]
    first.write_bytes(sorted(dog_targets.iterdir())[1].read_bytes())  # other class images, same file names
    assert "finished in an earlier attempt" not in retry()
    assert "finished in an earlier attempt" in retry()
    weights = next(model.rglob("unet/*.safetensors"))
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1e-3  # the same base model name, other weights
    save_file(tensors, weights)
    assert "finished in an earlier attempt" not in retry()


@pytest.mark.parametrize("setting", MEMORY_AND_LOSS_OPTIONS)
def test_each_memory_and_loss_option_makes_another_run(tmp_path, tiny_model, dog_targets, setting):
    """A finished training is restored only for its own fingerprint (the same one that guards a saved state): with
    any option changed, the retry trains."""
    from conceptbench.methods.job import train_concept

    if setting == "optimizer":
        pytest.importorskip("bitsandbytes")
    base = method_params({"type": "lora", "steps": 2, "checkpoint_every": 0, "learning_rate": 1e-2,
                          "mixed_precision": "bf16"})
    out = tmp_path / "out"

    def retry(params: dict) -> str:
        shutil.rmtree(out, ignore_errors=True)  # Snakemake's clean-up of a job it re-runs
        lines: list[str] = []
        train_concept(base_model=tiny_model, targets_dir=dog_targets, class_images_dir=None, concept_name="blue_dog",
                      class_noun="dog", method_name="lora", params=params, out_dir=out, state_dir=tmp_path / "state",
                      log=lines.append, device="cpu")
        return "\n".join(lines)

    retry(base)
    assert "finished in an earlier attempt" in retry(base)
    changed = retry(method_params({**base, setting: MEMORY_AND_LOSS_OPTIONS[setting]}))
    assert "finished in an earlier attempt" not in changed and "training lora" in changed
