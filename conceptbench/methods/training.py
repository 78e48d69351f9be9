"""The training loop every method shares, on every model family: resumable, deterministic.

A method decides WHAT trains (a token embedding, the UNet, LoRA adapters) by handing over a `TrainingSetup`; the
base model's family (conceptbench/diffusion/families/) decides what differs between models: prompt encoding,
latents, the objective (SD's noise prediction on the DDPM schedule, FLUX.1's flow matching) and the model call;
this module decides HOW: batches, noise, optimizer, checkpoints, logs. All randomness comes from one CPU
`torch.Generator` whose state is saved with the weights and optimizer, so a run stopped at any checkpoint and
resumed gives bit-for-bit the weights of an uninterrupted run (on CPU, at a fixed thread count).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import platform
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from conceptbench.methods.memory import (
    DTYPES,
    enable_gradient_checkpointing,
    frozen_in,
    make_optimizer,
    parameter_bytes,
)

STATE_WEIGHTS = "state.safetensors"
STATE_INFO = "state.json"
LOSS_LOG = "loss.csv"


class TrainingInterrupted(RuntimeError):
    """Raised after a SIGTERM/SIGINT: the state is saved and a re-run resumes from it."""


@dataclass
class TrainingSetup:
    """What a method hands the loop: the trainable tensors and how prompts become text embeddings."""

    trainable: dict[str, torch.nn.Parameter]
    instance_prompt: str
    class_prompt: str | None = None
    train_text_encoder: bool = False
    # Called after every optimizer step (textual inversion puts back the embedding rows it must not change).
    after_step: Callable[[], None] | None = None
    # Trainable name -> learning-rate multiplier (pivotal tuning: the token's own rate beside the LoRA's).
    lr_scales: dict[str, float] = field(default_factory=dict)
    # The artifact holds frozen modules too (DreamBooth saves the whole pipeline): under `frozen_dtype: compute` their
    # float32 weights are kept on the host for the saving.
    saves_frozen: bool = False
    extra: dict = field(default_factory=dict)


@dataclass
class TrainingConfig:
    steps: int
    batch_size: int
    learning_rate: float
    seed: int
    checkpoint_every: int
    lr_warmup_steps: int = 0
    scale_lr: bool = False
    adam_weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    prior_loss_weight: float = 1.0
    mixed_precision: str = "no"
    eval_steps: tuple[int, ...] = ()
    # Memory options (conceptbench/methods/memory.py) and loss options (the objective's: for SD-1.x and SDXL,
    # conceptbench/diffusion/families/noise_prediction.py).
    gradient_checkpointing: bool = False
    frozen_dtype: str = "float32"  # or "compute": frozen parameters in the mixed_precision dtype
    optimizer: str = "adamw"  # or "adamw8bit"
    snr_gamma: float | None = None
    noise_offset: float = 0.0
    # The family's own settings (flow matching: weighting_scheme, guidance_scale, ...; none for SD).
    family_settings: dict = field(default_factory=dict)

    @property
    def effective_lr(self) -> float:
        return self.learning_rate * (self.batch_size if self.scale_lr else 1)

    def lr_at(self, step: int) -> float:
        """Constant learning rate after a linear warm-up: a pure function of the step, so nothing to save."""
        if self.lr_warmup_steps <= 0:
            return self.effective_lr
        return self.effective_lr * min(1.0, (step + 1) / self.lr_warmup_steps)


def images_to_tensor(images) -> torch.Tensor:
    """PIL RGB images of one size -> float tensor (N, 3, H, W) in [-1, 1], the range the VAE expects."""
    import numpy as np

    array = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) for image in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2) / 127.5 - 1.0


def fingerprint(payload: dict) -> str:
    """Hash of everything that determines a run, so a saved state is never resumed into a different run."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# Saving and restoring the full state


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, int | float]]:
    """The optimizer's per-parameter state as (tensors, plain numbers): `optimizer.<index>.<key>`, one level deeper
    for a nested dict (bitsandbytes keeps its quantisation state in one); numbers that are not tensors (bitsandbytes'
    `step`) go to state.json, so that they come back as numbers."""
    tensors, numbers = {}, {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, leaf in items:
                name = f"optimizer.{index}.{key}" + (f".{sub}" if sub is not None else "")
                if isinstance(leaf, torch.Tensor):
                    tensors[name] = leaf.detach().cpu().contiguous()
                else:
                    numbers[name] = leaf
    return tensors, numbers


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                       numbers: dict[str, int | float], device) -> None:
    state_dict = optimizer.state_dict()
    restored: dict[int, dict] = {}
    for name, value in [*tensors.items(), *numbers.items()]:
        if name.startswith("optimizer."):
            _, index, path = name.split(".", 2)
            key, _, sub = path.partition(".")
            # AdamW keeps `step` on the CPU and the moments beside the parameter.
            if isinstance(value, torch.Tensor) and key != "step":
                value = value.to(device)
            state = restored.setdefault(int(index), {})
            if sub:
                state.setdefault(key, {})[sub] = value
            else:
                state[key] = value
    state_dict["state"] = restored
    optimizer.load_state_dict(state_dict)


def save_state(state_dir: Path, step: int, run_id: str, setup: TrainingSetup, optimizer, generator,
               attempts: list[dict] | None = None) -> None:
    """Write weights, optimizer moments and RNG state atomically: a kill mid-write leaves the previous state."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"weights.{name}": p.detach().cpu().contiguous() for name, p in setup.trainable.items()}
    optimizer_tensors, optimizer_numbers = _optimizer_tensors(optimizer)
    tensors.update(optimizer_tensors)
    tensors["rng.generator"] = generator.get_state()
    tmp_weights = state_dir / (STATE_WEIGHTS + ".tmp")
    save_file(tensors, str(tmp_weights))
    tmp_info = state_dir / (STATE_INFO + ".tmp")
    info = {"step": step, "run_id": run_id, "attempts": attempts or []}
    if optimizer_numbers:  # torch's AdamW has none: its state files stay as they were
        info["optimizer_numbers"] = optimizer_numbers
    tmp_info.write_text(json.dumps(info))
    os.replace(tmp_weights, state_dir / STATE_WEIGHTS)
    os.replace(tmp_info, state_dir / STATE_INFO)


def load_state(state_dir: Path, run_id: str, setup: TrainingSetup, optimizer, generator, device,
               log) -> tuple[int, list[dict]]:
    """Restore a saved state of the same run; returns its step and the earlier attempts that reached it
    ((0, []) when there is none to resume)."""
    info_path, weights_path = state_dir / STATE_INFO, state_dir / STATE_WEIGHTS
    if not (info_path.is_file() and weights_path.is_file()):
        return 0, []
    info = json.loads(info_path.read_text())
    if info.get("run_id") != run_id:
        log(f"ignoring saved state in {state_dir}: it belongs to a run with other settings")
        return 0, []
    tensors = load_file(str(weights_path))
    with torch.no_grad():
        for name, param in setup.trainable.items():
            param.copy_(tensors[f"weights.{name}"].to(param.device, param.dtype))
    _restore_optimizer(optimizer, tensors, info.get("optimizer_numbers", {}), device)
    generator.set_state(tensors["rng.generator"])
    log(f"resuming from saved state at step {info['step']} ({state_dir})")
    return int(info["step"]), list(info.get("attempts", []))


# ---------------------------------------------------------------------------------------------------------------
# The loop


class _StopRequest:
    """Turns SIGTERM (SLURM's time limit or preemption) and SIGINT into a flag checked between steps."""

    def __init__(self):
        self.signal_name = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _part(tensor, part: slice):
    return None if tensor is None else tensor[part]


@torch.no_grad()
def _latent_moments(vae, pixels: torch.Tensor, device, family, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the VAE posterior per image, computed once; each step samples from them with our generator."""
    means, stds = [], []
    for start in range(0, len(pixels), batch):
        dist = vae.encode(family.vae_input(pixels[start:start + batch].to(device, vae.dtype))).latent_dist
        means.append(dist.mean.float())
        stds.append(dist.std.float())
    return torch.cat(means), torch.cat(stds)


def run_training(pipe, setup: TrainingSetup, config: TrainingConfig, instance_images, class_images,
                 state_dir: Path, run_id: str, log: Callable[[str], None] = print,
                 progress: bool = True, device: str = "auto",
                 snapshot: Callable[[int], None] | None = None) -> tuple[list[dict], list[dict]]:
    """Train `setup.trainable` in place inside `pipe`; returns the loss log rows (step, loss, lr) and the
    attempts that made them (one per call: when it started, on which host and device, with which mixed precision
    in effect and which dtype the frozen parameters had, its first and last step, and the signal that stopped it),
    so that metadata.json keeps what the job logs of killed attempts lose. `config`'s memory and loss options:
    conceptbench/methods/memory.py and the family's objective (noise_prediction.py for SD).

    The state is saved to `state_dir` every `config.checkpoint_every` steps and when SIGTERM/SIGINT arrives
    (then TrainingInterrupted is raised). A later call with the same `run_id` resumes from that state.
    `snapshot(step)` is called after each of `config.eval_steps`, before that step's state is saved: a state at
    step s implies the snapshots up to s were written by this run.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from tqdm.auto import tqdm

    from conceptbench.diffusion.devices import pick_device

    # accelerate keeps one state per process; a second training here (tests, benchmarks) may want another precision.
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=pick_device(device) == "cpu")
    device = accelerator.device
    # accelerate has no float16 autocast on a CPU: asked for fp16 there, it computes in float32 (native_amp False,
    # "whether mixed precision is actually enabled"). The attempt records what it used.
    precision = config.mixed_precision if accelerator.native_amp else "no"
    if precision != config.mixed_precision:
        log(f"mixed_precision {config.mixed_precision} asked for, but it is not available on {device.type}: training "
            "in float32 (metadata.json says so)")
    from conceptbench.diffusion.families import family_of

    family = family_of(pipe)
    denoiser, vae = family.denoiser(pipe), pipe.vae
    encoders = [encoder for _, _, encoder in family.text_encoders(pipe)]
    for module in (denoiser, vae, *encoders):
        module.to(device)
    vae.eval()
    denoiser.train()
    for encoder in encoders:
        encoder.train(setup.train_text_encoder)
    if config.gradient_checkpointing:  # the text encoders only where they run with gradients
        enable_gradient_checkpointing(denoiser, encoders if setup.train_text_encoder else [])

    params = list(setup.trainable.values())
    # One parameter group per learning-rate multiplier (a single group unless the method asks for more).
    groups: dict[float, list] = {}
    for name, param in setup.trainable.items():
        groups.setdefault(float(setup.lr_scales.get(name, 1.0)), []).append(param)
    # Prepared by accelerate so that fp16 loss scaling is undone before clipping and skipped on overflow.
    optimizer = accelerator.prepare(make_optimizer(
        config.optimizer, [{"params": group, "lr_scale": scale} for scale, group in groups.items()],
        lr=config.effective_lr, weight_decay=config.adam_weight_decay))
    generator = torch.Generator().manual_seed(config.seed)

    use_prior = class_images is not None and len(class_images) > 0 and setup.class_prompt is not None
    instance_pixels = images_to_tensor(instance_images)
    inst_mean, inst_std = _latent_moments(vae, instance_pixels, device, family)
    if use_prior:
        class_mean, class_std = _latent_moments(vae, images_to_tensor(class_images), device, family)
    objective = family.objective(pipe, config, *instance_pixels.shape[-2:], device)
    text_trains = setup.train_text_encoder
    if not text_trains:
        with torch.no_grad():
            fixed_inst = family.encode_prompts(pipe, [setup.instance_prompt], device)
            fixed_class = family.encode_prompts(pipe, [setup.class_prompt], device) if use_prior else None

    state_dir = Path(state_dir)
    log_path = state_dir / LOSS_LOG
    start, attempts = load_state(state_dir, run_id, setup, optimizer, generator, device, log)
    rows = _read_loss_log(log_path, upto=start)
    # Frozen parameters in the compute dtype only where mixed precision is in effect (not fp16 on a CPU); after the
    # latents and fixed prompt embeddings above were computed in float32, as without the option.
    frozen_dtype = DTYPES.get(precision) if config.frozen_dtype == "compute" else None
    if config.frozen_dtype == "compute" and frozen_dtype is None:
        log(f"frozen_dtype compute asked for, but mixed precision is not in effect on {device.type}: frozen modules "
            "stay float32 (metadata.json says so)")
    attempt = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(), "from_step": start,
               "to_step": start, "stopped_by": None, "device": device.type, "mixed_precision": precision,
               "frozen_dtype": str(frozen_dtype or torch.float32).removeprefix("torch.")}

    bs = config.batch_size
    with _StopRequest() as stop, tqdm(total=config.steps, initial=start, disable=not progress,
                                      desc="train", mininterval=5) as bar, \
            frozen_in(frozen_dtype, (denoiser, vae, *encoders), params, setup.saves_frozen) as frozen:
        if frozen is not None:
            log(f"{len(frozen.params)} frozen tensors stored in {attempt['frozen_dtype']}: "
                f"{parameter_bytes(frozen.params) / 2**20:.0f} MiB")
        compute_dtype = denoiser.dtype  # read once (Objective.predict): no step changes it
        for step in range(start, config.steps):
            # What draws from torch's global generator inside the models (T5's dropout while a FLUX.1 token trains;
            # nothing on SD) draws the same in a resumed run: the loop's own numbers come from `generator`.
            torch.manual_seed(config.seed * 1_000_003 + step)
            lr = config.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            idx = torch.randint(len(inst_mean), (bs,), generator=generator)
            mean, std = inst_mean[idx], inst_std[idx]
            if use_prior:
                cidx = torch.randint(len(class_mean), (bs,), generator=generator)
                mean, std = torch.cat([mean, class_mean[cidx]]), torch.cat([std, class_std[cidx]])
            sample_noise = torch.randn(mean.shape, generator=generator).to(device)
            latents = objective.model_input(mean if objective.posterior_mode else mean + std * sample_noise)
            noised = objective.noise(latents, generator, device)

            with accelerator.autocast():
                if text_trains:
                    prompts = [setup.instance_prompt] * bs + ([setup.class_prompt] * bs if use_prior else [])
                    conditioning = family.encode_prompts(pipe, prompts, device)
                else:  # each prompt's conditioning once per sample: instance prompts, then class prompts
                    conditioning = family.batch_conditioning([fixed_inst] + ([fixed_class] if use_prior else []), bs)
                pred = objective.predict(denoiser, noised, conditioning, compute_dtype)
            pred, target, weighting = pred.float(), noised.target.float(), noised.weighting
            if use_prior:
                first, rest = slice(None, bs), slice(bs, None)
                loss = (objective.loss(pred[first], target[first], _part(weighting, first))
                        + config.prior_loss_weight * objective.loss(pred[rest], target[rest], _part(weighting, rest)))
            else:
                loss = objective.loss(pred, target, weighting)

            accelerator.backward(loss)
            if config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if setup.after_step is not None:
                setup.after_step()

            rows.append({"step": step + 1, "loss": float(loss.detach()), "lr": lr})
            bar.update(1)
            done = step + 1
            attempt["to_step"] = done
            if snapshot is not None and done in config.eval_steps:
                with frozen.restored() if frozen is not None else contextlib.nullcontext():
                    snapshot(done)
            # The flag read once: a signal that lands during a periodic save is acted on after the next step, with a
            # state that records it (read twice, the save said "not stopped" and the job stopped anyway).
            stopping = stop.signal_name
            if stopping or (config.checkpoint_every > 0 and done % config.checkpoint_every == 0
                            and done < config.steps):
                attempt["stopped_by"] = stopping
                save_state(state_dir, done, run_id, setup, optimizer, generator, [*attempts, attempt])
                _write_loss_log(log_path, rows)
                if stopping:
                    raise TrainingInterrupted(f"{stopping} received: state saved at step {done} in "
                                              f"{state_dir}; run the job again to resume from there")
    return rows, [*attempts, attempt]


def _write_loss_log(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "loss", "lr"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _read_loss_log(path: Path, upto: int) -> list[dict]:
    """Loss rows of the steps already done; rows past the resumed step came from a killed run and are redone."""
    if upto == 0 or not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{"step": int(r["step"]), "loss": float(r["loss"]), "lr": float(r["lr"])}
                for r in csv.DictReader(handle) if int(r["step"]) <= upto]


def write_loss_log(path: Path, rows: list[dict]) -> None:
    _write_loss_log(Path(path), rows)


def peak_memory_mb() -> float:
    """Peak memory of this process: GPU allocator peak when on CUDA, else the resident set size."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
