"""The project's trainers side by side with diffusers' example trainers: steps/s, wall time and peak memory.

    python bench/compare_diffusers.py --examples DIFFUSERS/examples [--shape tiny|sd15] [--steps 20 200]
                                      [--rounds 2] [--methods dreambooth lora textual_inversion] [--out DIR]

DIFFUSERS/examples is the examples folder of a diffusers checkout (examples/dreambooth/train_dreambooth.py,
train_dreambooth_lora.py, examples/textual_inversion/textual_inversion.py); they need torchvision, which the
project does not: run this from a venv of its own (see README, "Benchmarks").

Both sides train the same base model (`tiny`: builtin:tiny at 32 px; `sd15`: SD-1.5's architecture with random
weights at 512 px, as bench/gpu_sd15_check.py builds it) on the same instance images, at the same resolution,
batch size, steps, learning rate (constant), precision (fp32 on CPU, fp16 mixed precision on CUDA) and optimizer
(AdamW), without prior preservation, and save their result at the end. Each side keeps its own defaults otherwise:
diffusers encodes images and prompts at every step, the project caches latents and text embeddings.

Runs alternate (project, diffusers, project, diffusers, ...) so that machine noise hits both. Steady-state time per
step is the difference between the wall times at the two step counts divided by the difference in steps, so
start-up, loading and the final save cancel out; wall time and peak memory are those of the longer run (peak
memory: the process's maximum resident set on CPU, torch's peak allocation on CUDA).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = {"dreambooth": "dreambooth/train_dreambooth.py", "lora": "dreambooth/train_dreambooth_lora.py",
           "textual_inversion": "textual_inversion/textual_inversion.py"}
SHAPES = {"tiny": 32, "sd15": 512}  # resolution
LEARNING_RATE = {"dreambooth": 5e-6, "lora": 1e-4, "textual_inversion": 5e-4}
PEAK = "COMPARE_DIFFUSERS_PEAK_CUDA_BYTES"


# ---- the two sides' command lines ------------------------------------------------------------------------------


def diffusers_args(method: str, model: Path, images: Path, out: Path, steps: int, batch: int, resolution: int,
                   precision: str) -> list[str]:
    common = [f"--pretrained_model_name_or_path={model}", f"--output_dir={out}", f"--resolution={resolution}",
              f"--train_batch_size={batch}", f"--max_train_steps={steps}", f"--learning_rate={LEARNING_RATE[method]}",
              "--lr_scheduler=constant", "--lr_warmup_steps=0", "--seed=0", f"--mixed_precision={precision}",
              f"--checkpointing_steps={10 * steps}", "--report_to=tensorboard"]
    if method == "textual_inversion":
        # builtin:tiny's tokenizer is character-level: a one-character initializer is one token, as the script needs.
        return [*common, f"--train_data_dir={images}", "--placeholder_token=<blue_dog>", "--initializer_token=d",
                "--learnable_property=object", f"--save_steps={10 * steps}"]
    return [*common, f"--instance_data_dir={images}", "--instance_prompt=a photo of sks dog",
            *(["--rank=4"] if method == "lora" else [])]


def project_spec(method: str, model: Path, images: Path, out: Path, steps: int, batch: int, precision: str) -> dict:
    params = {"type": method, "steps": steps, "batch_size": batch, "learning_rate": LEARNING_RATE[method],
              "checkpoint_every": 0, "mixed_precision": precision}
    if method != "textual_inversion":
        params["prior_preservation"] = False
    if method == "lora":
        params.update(rank=4, alpha=4)
    return {"base_model": str(model), "targets_dir": str(images), "class_images_dir": None,
            "concept_name": "blue_dog", "class_noun": "dog", "method_name": method, "params": params,
            "out_dir": str(out / "out"), "state_dir": str(out / "state")}


# ---- one measured run -----------------------------------------------------------------------------------------


def child(spec: dict) -> None:
    """In the measured process: train one side, then report torch's peak CUDA allocation."""
    import atexit
    import runpy

    import torch

    def report_peak():
        if torch.cuda.is_available():
            print(f"{PEAK}={torch.cuda.max_memory_allocated()}", flush=True)

    atexit.register(report_peak)
    if spec["side"] == "project":
        sys.path.insert(0, str(REPO))
        from conceptbench.methods import method_params
        from conceptbench.methods.job import train_concept

        train = dict(spec["train"])
        train["params"] = method_params(train["params"])
        train_concept(**train, log=lambda message: None, device=spec["device"])
    else:
        sys.argv = [spec["script"], *spec["args"]]
        runpy.run_path(spec["script"], run_name="__main__")


def measure(spec: dict, log_path: Path) -> dict:
    """Run one side in a fresh process: wall seconds and peak memory (bytes)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log_path.read_text(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{spec['side']} {spec['method']} failed (exit {process.returncode}); its output is in "
                         f"{log_path}:\n{text[-3000:]}")
    cuda = [int(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith(f"{PEAK}=")]
    peak = cuda[-1] if cuda else usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux
    return {"wall": wall, "peak": peak}


# ---- inputs ---------------------------------------------------------------------------------------------------


def prepare_inputs(shape: str, batch: int, out: Path) -> tuple[Path, Path]:
    """The base model and `batch` instance images (demo blue_dog at the shape's resolution, repeated if needed),
    made once. diffusers' DreamBooth scripts keep a short last batch (5 images at batch 4 alternate batches of 4
    and 1), so the image count is the batch size: every step of both sides sees `batch` images."""
    sys.path.insert(0, str(REPO))
    from conceptbench.inputs.concepts import load_concept_images, write_normalised_images

    resolution = SHAPES[shape]
    model, images = out / f"model_{shape}", out / f"images_{resolution}_{batch}"
    if not (model / "model_index.json").is_file():
        if shape == "tiny":
            from conceptbench.diffusion.tiny import build_tiny_pipeline

            build_tiny_pipeline(model, seed=0, resolution=resolution)
        else:
            sys.path.insert(0, str(REPO / "bench"))
            from gpu_sd15_check import build_sd15_shaped

            build_sd15_shaped(model)
    if not images.is_dir():
        photos = load_concept_images(REPO / "data" / "demo" / "blue_dog", resolution)
        write_normalised_images([photos[i % len(photos)] for i in range(batch)], images)
    return model, images


# ---- main -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, help="the examples/ folder of a diffusers checkout")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--methods", nargs="+", choices=sorted(SCRIPTS), default=list(SCRIPTS))
    parser.add_argument("--steps", nargs=2, type=int, default=[20, 200], metavar=("SHORT", "LONG"),
                        help="the two step counts whose difference gives the steady-state time per step")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per method (A B, A B, ...)")
    parser.add_argument("--out", type=Path, default=Path("bench_out/compare_diffusers"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.examples is None:
        parser.error("--examples is required: the examples/ folder of a diffusers checkout")
    missing = [str(args.examples / s) for s in SCRIPTS.values() if not (args.examples / s).is_file()]
    if missing:
        parser.error(f"not found: {', '.join(missing)} (--examples must be a diffusers checkout's examples/ folder)")
    try:
        import torchvision  # noqa: F401  (diffusers' examples import it; the project does not)
    except ImportError:
        parser.error("diffusers' example trainers need torchvision: run this from a venv that has it "
                     "(see README, 'Benchmarks')")
    short, long = sorted(args.steps)
    if short == long:
        parser.error("--steps needs two different step counts")

    import diffusers
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = "fp16" if device == "cuda" else "no"
    args.out.mkdir(parents=True, exist_ok=True)
    model, images = prepare_inputs(args.shape, args.batch_size, args.out)
    resolution = SHAPES[args.shape]
    print(f"# {args.shape} model at {resolution} px, batch {args.batch_size}, {short} and {long} steps, precision "
          f"{precision}, {device}, {torch.get_num_threads()} torch threads; diffusers {diffusers.__version__}, "
          f"torch {torch.__version__}; examples from {args.examples}", flush=True)

    rows = []
    for method in args.methods:
        times = {"project": {short: [], long: []}, "diffusers": {short: [], long: []}}
        peaks = {"project": [], "diffusers": []}
        for round_ in range(args.rounds):
            for steps in (short, long):
                for side in ("project", "diffusers"):  # alternating: noise hits both sides alike
                    run_dir = args.out / "runs" / f"{method}_{side}_{steps}_{round_}"
                    spec = {"side": side, "method": method, "device": device}
                    if side == "project":
                        spec["train"] = project_spec(method, model, images, run_dir, steps, args.batch_size,
                                                     precision)
                    else:
                        spec["script"] = str((args.examples / SCRIPTS[method]).resolve())
                        spec["args"] = diffusers_args(method, model, images, run_dir, steps, args.batch_size,
                                                      resolution, precision)
                    run_dir.mkdir(parents=True, exist_ok=True)
                    result = measure(spec, run_dir.with_suffix(".log"))
                    times[side][steps].append(result["wall"])
                    if steps == long:
                        peaks[side].append(result["peak"])
                    print(f"  {method:<18} {side:<9} {steps:>4} steps  {result['wall']:7.1f} s  "
                          f"peak {result['peak'] / 2**20:8.0f} MiB", flush=True)
        summary = {}
        for side in ("project", "diffusers"):
            per_step = [(b - a) / (long - short) for a, b in zip(times[side][short], times[side][long])]
            summary[side] = {"seconds_per_step": statistics.median(per_step), "per_step_runs": per_step,
                             "wall": statistics.median(times[side][long]), "peak": max(peaks[side])}
        rows.append({"method": method, **summary})

    print(f"\n{'method':<18} {'side':<9} {'steps/s':>8} {'s/step (each round)':>24} {'wall ' + str(long):>9} "
          f"{'peak MiB':>9}")
    for row in rows:
        for side in ("project", "diffusers"):
            s = row[side]
            each = ", ".join(f"{x:.3f}" for x in s["per_step_runs"])
            print(f"{row['method']:<18} {side:<9} {1 / s['seconds_per_step']:>8.2f} {each:>24} "
                  f"{s['wall']:>8.1f}s {s['peak'] / 2**20:>9.0f}")
        ratio = row["diffusers"]["seconds_per_step"] / row["project"]["seconds_per_step"]
        print(f"{row['method']:<18} ratio     project steps/s = {ratio:.2f} x diffusers'; wall "
              f"{row['diffusers']['wall'] / row['project']['wall']:.2f} x shorter; peak memory "
              f"{row['project']['peak'] / row['diffusers']['peak']:.2f} x diffusers'")
    (args.out / "compare_diffusers.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
