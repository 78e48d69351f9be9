"""Train one method on one concept: the whole job behind the `train` rule, testable without Snakemake.

Writes into `out_dir` the method's artifact, `loss.csv` (step, loss, lr), `metadata.json`, and for each of the
method's `eval_steps` a snapshot artifact in `snapshots/step<N>/` (loaded the same way). The resumable
state lives in `state_dir`, beside the output, so Snakemake's clean-up of a failed job never deletes it. Once the
run has finished, `state_dir` keeps only hard links to its outputs: a job killed after its last step but before
it could report success (a SLURM time limit in that gap) loses `out_dir` to that clean-up, and its retry restores
the outputs from there instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from pathlib import Path

import torch
from PIL import Image

from conceptbench.diffusion.families import FAMILY_SETTINGS_SCHEMA, family_of
from conceptbench.diffusion.pipelines import load_pipeline, model_identity
from conceptbench.diffusion.sources import resolve
from conceptbench.inputs.concepts import list_image_files
from conceptbench.methods import get_method
from conceptbench.methods.training import TrainingConfig, fingerprint, peak_memory_mb, run_training, write_loss_log
from conceptbench.runs import snapshot_folder


def library_versions() -> dict[str, str]:
    import accelerate
    import diffusers
    import peft
    import transformers

    from conceptbench import __version__

    return {"conceptbench": __version__, "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__,
            "accelerate": accelerate.__version__, "python": platform.python_version()}


def training_code_digest() -> str:
    """Hash of the code that shapes a training (conceptbench/methods/, this module included, and the model families'
    objectives in conceptbench/diffusion/families/): a saved or finished state is never reused by changed code."""
    from conceptbench.diffusion import families

    digest = hashlib.sha256()
    for folder in (Path(__file__).resolve().parent, Path(families.__file__).resolve().parent):
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{folder.name}/{path.name}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


FINISHED_RECORD, FINISHED_OUTPUTS = "finished.json", "finished"


def snapshot_dir(checkpoint_dir: str | Path, step: int) -> Path:
    """Where the snapshot of a training at `step` lives inside its output (and, while training, its state)."""
    return Path(checkpoint_dir) / snapshot_folder(step)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, destination)


def keep_finished(out_dir: Path, state_dir: Path, run_id: str) -> None:
    """Replace the resumable state by hard links to the finished outputs (no second copy on disk) and a record
    of the run they belong to, written last."""
    shutil.rmtree(state_dir, ignore_errors=True)
    shutil.copytree(out_dir, state_dir / FINISHED_OUTPUTS, copy_function=_link_or_copy)
    (state_dir / FINISHED_RECORD).write_text(json.dumps({"run_id": run_id}))


def restore_finished(out_dir: Path, state_dir: Path, run_id: str) -> bool:
    """Put the outputs of an earlier attempt of this same run back into `out_dir`; False if there are none.
    Finished outputs of another run (other settings, data or code) are dropped."""
    record = state_dir / FINISHED_RECORD
    if not record.is_file():
        return False
    if json.loads(record.read_text()).get("run_id") != run_id:
        shutil.rmtree(state_dir / FINISHED_OUTPUTS, ignore_errors=True)
        record.unlink()
        return False
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(state_dir / FINISHED_OUTPUTS, out_dir, copy_function=_link_or_copy)
    return True


def read_image_folder(folder: str | Path) -> list[Image.Image]:
    """Images already normalised by the pipeline (targets, class images), in file order."""
    paths = list_image_files(folder)
    if not paths:
        raise FileNotFoundError(f"{folder} holds no images; re-run the rule that makes it")
    return [Image.open(p).convert("RGB") for p in paths]


def file_digests(folder: str | Path) -> list[str]:
    """sha256 of each image of a folder (targets, class images), in file order."""
    return [hashlib.sha256(path.read_bytes()).hexdigest() for path in list_image_files(folder)]


def training_config(params: dict, family=None) -> TrainingConfig:
    """The loop's settings from a method entry's params; `family` (a diffusion.families Family) picks its own."""
    fields = TrainingConfig.__dataclass_fields__
    own = {key: params[key] for key in family.settings} if family is not None else {}
    return TrainingConfig(**{k: v for k, v in params.items() if k in fields}, family_settings=own)


def check_family(family, params: dict, method_name: str, base_model) -> None:
    """Refuse, before any work, a method that does not apply to the base model's family, or params made without the
    family's settings (start-up fills them in where it can read the family: see methods.method_params)."""
    reason = (family.method_refusal(params["type"]) or family.loss_option_refusal(params)
              or family.text_encoder_refusal(params))
    if reason is not None:
        raise ValueError(f"method {method_name} ({params['type']}) is refused on {family.title} "
                         f"({base_model}): {reason}")
    foreign = sorted(set(params) & set(FAMILY_SETTINGS_SCHEMA) - set(family.settings))
    if foreign:
        raise ValueError(f"method {method_name}: {foreign} are not settings of {family.title} ({base_model}); "
                         "remove them")
    missing = sorted(set(family.method_defaults(params["type"])) - set(params))
    if missing:
        raise ValueError(f"method {method_name}: its settings lack {family.title}'s {missing}; make them with "
                         f"method_params(entry, family) (conceptbench.methods), which fills in the family's defaults")


def train_concept(*, base_model: str | Path, targets_dir: str | Path, class_images_dir: str | Path | None,
                  concept_name: str, class_noun: str, method_name: str, params: dict,
                  out_dir: str | Path, state_dir: str | Path, log=print, device: str = "auto") -> dict:
    """Train and save; returns the metadata written to metadata.json."""
    started = time.time()
    out_dir, state_dir = Path(out_dir), Path(state_dir)
    method = get_method(params["type"])
    instance_images = read_image_folder(targets_dir)
    class_images = read_image_folder(class_images_dir) if method.uses_prior(params) else None
    source = resolve(base_model)  # builtin:world: its committed folder, identified by content like any local model
    identity = model_identity(source) if Path(source).is_dir() else {"hub_id": str(base_model)}

    versions = library_versions()
    # Everything that shapes the artifact: a finished or saved state of another run is never reused for this one.
    run_id = fingerprint({
        "params": params, "method": method_name, "concept": concept_name, "class": class_noun,
        "base_model": identity.get("weights_sha256", identity.get("hub_id")),
        "targets": file_digests(targets_dir),
        "class_images": file_digests(class_images_dir) if class_images is not None else None,
        "device": device, "code": training_code_digest(), "versions": versions,
    })
    if restore_finished(out_dir, state_dir, run_id):
        log(f"{method_name} on {concept_name} finished in an earlier attempt (killed before it could report "
            f"success); restored its outputs from {state_dir} -> {out_dir}")
        return json.loads((out_dir / "metadata.json").read_text())
    pipe = load_pipeline(base_model)
    family = family_of(pipe)
    check_family(family, params, method_name, base_model)
    setup = method.prepare(pipe, concept_name, class_noun, params)

    def save_snapshot(step: int) -> None:
        # Into the state folder (kept when the job fails), atomically; training goes on at full precision, so
        # a snapshot is never converted to half precision in place.
        final, partial = snapshot_dir(state_dir, step), snapshot_dir(state_dir, step).with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        method.save(pipe, setup, partial, {**params, "save_half_precision": False})
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        log(f"snapshot at step {step} -> {final}")

    log(f"training {method_name} ({params['type']}) on {concept_name}: {len(setup.trainable)} trainable tensors, "
        f"{sum(p.numel() for p in setup.trainable.values()):,} parameters, {params['steps']} steps")
    rows, attempts = run_training(pipe, setup, training_config(params, family), instance_images, class_images,
                        state_dir=state_dir, run_id=run_id, log=log, device=device, snapshot=save_snapshot)

    out_dir.mkdir(parents=True, exist_ok=True)
    method.save(pipe, setup, out_dir, params)
    for step in params["eval_steps"]:
        shutil.copytree(snapshot_dir(state_dir, step), snapshot_dir(out_dir, step), copy_function=_link_or_copy)
    write_loss_log(out_dir / "loss.csv", rows)
    # What this attempt ran on and in which precision, not only what was asked for (device: auto; fp16 on a CPU).
    used = attempts[-1]
    asked = params.get("mixed_precision", "no")
    precision = {"mixed_precision": used["mixed_precision"]}
    if used["mixed_precision"] != asked:
        precision["mixed_precision_note"] = f"{asked} requested, not available on {used['device']}: trained in float32"
    # The dtype the frozen parameters were stored in: float32 unless frozen_dtype compute met mixed precision in effect.
    precision["frozen_dtype"] = used["frozen_dtype"]
    if params.get("frozen_dtype") == "compute" and used["frozen_dtype"] == "float32":
        precision["frozen_dtype_note"] = (f"compute requested, but mixed precision was not in effect on "
                                          f"{used['device']}: frozen modules stayed float32")
    metadata = {
        "concept": concept_name, "class_noun": class_noun, "method": method_name, "hyperparameters": params,
        "seed": params["seed"], "concept_phrase": method.concept_phrase(concept_name, class_noun, params),
        "base_model": {"source": str(base_model), **identity}, "versions": versions,
        "device": used["device"], **precision, "threads": torch.get_num_threads(),
        "wall_time_s": round(time.time() - started, 3), "peak_memory_mb": round(peak_memory_mb(), 1),
        "final_loss": rows[-1]["loss"] if rows else None, "num_instance_images": len(instance_images),
        "num_class_images": len(class_images) if class_images else 0,
        "attempts": attempts,  # more than one when the job was killed and resumed (wall_time_s is the last one's)
    }
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True))
    # The run finished: its resumable state is no longer needed (for DreamBooth it is large); links to the outputs
    # cover a kill between here and the job's reported success.
    keep_finished(out_dir, state_dir, run_id)
    log(f"saved {out_dir} in {metadata['wall_time_s']} s")
    return metadata
