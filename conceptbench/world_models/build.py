"""The recipe of every committed world model, and the model card that records what it cost and how good it is.

    python -m conceptbench.world_models build --out conceptbench/world/weights            # the committed models
    python -m conceptbench.world_models build --out /tmp/world --budget tiny              # seconds: checks the recipe runs

Everything is seeded from `Settings.seed`; each model draws from its own seed so that changing one recipe leaves
the others' weights as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from conceptbench.diffusion.sources import WORLD_MODEL_KINDS

CARD_JSON = "card.json"
CARD_MARKDOWN = "MODEL_CARD.md"


@dataclass(frozen=True)
class Settings:
    seed: int = 0
    size: int = 32
    images: int = 24000  # training scenes, shared by every model
    vae_steps: int = 1000
    vae_batch: int = 32
    vae_lr: float = 1e-3
    diffusion_steps: int = 2800
    diffusion_batch: int = 64
    diffusion_lr: float = 6e-4
    clip_steps: int = 1200
    clip_batch: int = 128
    clip_lr: float = 1e-3
    dino_pairs: int = 8000
    dino_steps: int = 1200
    dino_batch: int = 64
    dino_lr: float = 1e-3
    inception_scale: float = 0.0625
    inception_steps: int = 800
    inception_batch: int = 32
    inception_lr: float = 2e-3
    oracle_steps: int = 1500
    oracle_batch: int = 128
    oracle_lr: float = 2e-3
    test_images: int = 2000  # held-out scenes for the extractors' own accuracies
    quality_per_caption: int = 8  # base-model images per quality caption
    quality_steps: int = 20
    quality_guidance: float = 5.0


BUDGETS = {
    "full": Settings(),
    # Every stage for a few steps on a few images: proves the recipe end to end in well under a minute.
    "tiny": Settings(images=96, vae_steps=2, vae_batch=8, diffusion_steps=2, diffusion_batch=8, clip_steps=2,
                     clip_batch=16, dino_pairs=32, dino_steps=2, dino_batch=8, inception_scale=1 / 32,
                     inception_steps=2, inception_batch=4, oracle_steps=2, oracle_batch=16, test_images=32,
                     quality_per_caption=1, quality_steps=2),
}


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every weight and config file of the world models (the card files themselves excluded)."""
    hashes = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in (CARD_JSON, CARD_MARKDOWN):
            hashes[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def hardware() -> dict:
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version()}


def build(out: Path, settings: Settings, workers: int = 1, log: Callable[[str], None] = print,
          only: tuple[str, ...] = WORLD_MODEL_KINDS) -> dict:
    """Train the world models into `out` and write the model card; returns the card.

    `only` retrains some of the models (WORLD_MODEL_KINDS) and keeps the others from `out` as they are: every model
    draws from its own seed and the training data are rendered from the same seed, so the kept ones are what a
    full build with the same settings gives them too. The card's stage times then combine both builds.
    """
    from transformers import CLIPTokenizer

    from conceptbench.world.dataset import make_world_data
    from conceptbench.world_models.encoders import train_clip, train_dino, train_inception, train_oracle
    from conceptbench.world_models.pipeline import save_pipeline, train_diffusion, train_vae
    from conceptbench.world_models.tokenizer import write_world_tokenizer

    unknown = set(only) - set(WORLD_MODEL_KINDS)
    if unknown:
        raise ValueError(f"unknown world model(s) {sorted(unknown)}; choose from {', '.join(WORLD_MODEL_KINDS)}")
    s = settings
    out = Path(out)
    partial = set(only) != set(WORLD_MODEL_KINDS)
    previous = read_card(out) if partial else {"stages": {}, "history": []}
    staging = Path(tempfile.mkdtemp(prefix="world_", dir=out.parent if out.parent.exists() else None))
    stages = dict(previous["stages"])
    started = time.time()
    try:
        if partial:
            shutil.copytree(out, staging, dirs_exist_ok=True)
        t = time.time()
        data = make_world_data(s.images, s.seed, s.size, workers)
        stages["data"] = {"images": len(data), "seconds": round(time.time() - t, 1)}
        log(f"rendered {len(data)} world scenes in {stages['data']['seconds']} s")
        tokenizer_dir = write_world_tokenizer(staging / "tokenizer")
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)

        if "base_model" in only:
            vae, stages["vae"] = train_vae(data, steps=s.vae_steps, batch_size=s.vae_batch, lr=s.vae_lr,
                                           seed=s.seed + 1, log=log)
        else:
            from diffusers import AutoencoderKL

            vae = AutoencoderKL.from_pretrained(staging / "base_model" / "vae", use_safetensors=True)
        if "oracle" in only:
            stages["oracle"] = train_oracle(data, staging / "oracle", steps=s.oracle_steps,
                                            batch_size=s.oracle_batch, lr=s.oracle_lr, seed=s.seed + 2, log=log,
                                            vae=vae)
        if "clip" in only:
            stages["clip"] = train_clip(data, tokenizer_dir, staging / "clip", steps=s.clip_steps,
                                        batch_size=s.clip_batch, lr=s.clip_lr, seed=s.seed + 3, log=log)
        if "dino" in only:
            stages["dino"] = train_dino(s.dino_pairs, s.size, staging / "dino", steps=s.dino_steps,
                                        batch_size=s.dino_batch, lr=s.dino_lr, seed=s.seed + 4, workers=workers,
                                        log=log)
        if "inception" in only:
            stages["inception"] = train_inception(data, staging / "inception", channel_scale=s.inception_scale,
                                                  steps=s.inception_steps, batch_size=s.inception_batch,
                                                  lr=s.inception_lr, seed=s.seed + 5, log=log)
        if "base_model" in only:
            unet, text_encoder, stages["diffusion"] = train_diffusion(
                data, vae, tokenizer, steps=s.diffusion_steps, batch_size=s.diffusion_batch, lr=s.diffusion_lr,
                seed=s.seed + 6, log=log)
            save_pipeline(staging / "base_model", vae, text_encoder, tokenizer, unet)
        else:  # the scheduler is configuration, not training: always the current recipe's
            from conceptbench.diffusion.pipelines import sd1_scheduler

            sd1_scheduler().save_pretrained(staging / "base_model" / "scheduler")
        shutil.rmtree(tokenizer_dir)
        del data

        t = time.time()
        quality = measure_quality(staging, s, workers, log)
        stages["quality"] = {"seconds": round(time.time() - t, 1)}

        card = {
            "settings": asdict(s), "stages": stages, "hardware": hardware(), "quality": quality,
            # What a from-scratch build with these settings costs, stage by stage.
            "wall_time_s": round(sum(stage["seconds"] for stage in stages.values()), 1),
            "cpu_time_s": round(sum(stage.get("cpu_seconds", 0.0) for stage in stages.values()), 1),
            "history": [*previous.get("history", []),
                        {"date": time.strftime("%Y-%m-%d"), "models": list(only),
                         "wall_time_s": round(time.time() - started, 1)}],
            "parameters": parameter_counts(staging), "files": file_hashes(staging),
        }
        card["size_mb"] = round(sum((staging / f).stat().st_size for f in card["files"]) / 2**20, 2)
        (staging / CARD_JSON).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        (staging / CARD_MARKDOWN).write_text(model_card_markdown(card))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"world models in {out}: {card['size_mb']} MB, {card['wall_time_s']} s")
    return card


def parameter_counts(folder: Path) -> dict[str, int]:
    from safetensors import safe_open

    counts = {}
    for kind in WORLD_MODEL_KINDS:
        total = 0
        for path in sorted((folder / kind).rglob("*.safetensors")):
            with safe_open(str(path), framework="pt") as handle:
                total += sum(int(np.prod(handle.get_slice(k).get_shape())) for k in handle.keys())
        counts[kind] = total
    return counts


# ---- quality ----------------------------------------------------------------------------------------------------


def measure_quality(folder: Path, s: Settings, workers: int, log) -> dict:
    """Held-out accuracy of each extractor on world images, and the base model's report (see quality.py)."""
    from conceptbench.diffusion.generation import generate_batches
    from conceptbench.diffusion.pipelines import load_pipeline
    from conceptbench.diffusion.schedulers import use_scheduler
    from conceptbench.scoring.extractors import Extractor
    from conceptbench.world.dataset import make_identity_pairs, make_world_data
    from conceptbench.world_models import quality

    test = make_world_data(s.test_images, s.seed + 1000, s.size, workers)
    oracle = Extractor("oracle", folder / "oracle")
    result = {"extractors": {"oracle": oracle_accuracy(oracle, test)}}
    result["extractors"]["clip"] = clip_accuracy(Extractor("clip", folder / "clip"), test)
    first, second = make_identity_pairs(min(s.test_images, 1000), s.seed + 1001, s.size, workers)
    result["extractors"]["dino"] = identity_accuracy(Extractor("dino", folder / "dino"), first, second)
    log(f"extractors on held-out world images: {result['extractors']}")

    captions = quality.quality_captions()
    pipe = use_scheduler(load_pipeline(folder / "base_model"), "ddim")
    prompts = [quality.caption_text(c) for c in captions for _ in range(s.quality_per_caption)]
    seeds = list(range(len(prompts)))
    generated = np.stack(generate_batches(pipe, prompts, seeds, steps=s.quality_steps,
                                          guidance_scale=s.quality_guidance, resolution=s.size, batch_size=64,
                                          output_type="np"))
    generated = (generated * 255).round().astype(np.uint8)
    real = quality.real_images(captions, s.quality_per_caption, s.seed + 1002, s.size)
    _, summary = quality.measure(generated, real, captions, s.quality_per_caption, oracle,
                                 Extractor("inception", folder / "inception"))
    result["base_model"] = summary
    result["base_model_settings"] = {"per_caption": s.quality_per_caption, "steps": s.quality_steps,
                                     "guidance_scale": s.quality_guidance, "scheduler": "ddim"}
    log(f"base model: class {summary['class_accuracy']:.1%}, context {summary['context_accuracy']:.1%}, "
        f"rendering {summary['rendering_accuracy']:.1%}, holding {summary['holding_accuracy']:.1%}")
    return result


def _pil(images: np.ndarray):
    from PIL import Image

    return [Image.fromarray(a) for a in images]


def oracle_accuracy(oracle, test) -> dict[str, float]:
    from conceptbench.scoring.oracle import attribute_slices

    probs = oracle.embed_images(_pil(test.images))
    return {name: float(np.mean(probs[:, part].argmax(axis=1) == test.labels[name]))
            for name, part in attribute_slices(oracle.labels).items()}


def clip_accuracy(clip, test) -> dict[str, float]:
    """Zero-shot: each image's best-matching caption among its own caption's class (or context) alternatives."""
    from conceptbench.world import vocabulary as V

    images = clip.embed_images(_pil(test.images))
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    out = {}
    for name, options in (("class", V.CLASSES), ("context", V.CONTEXTS)):
        texts = [V.caption(o, "plain", "photo", False) if name == "class" else V.caption("dog", o, "photo", False)
                 for o in options]
        text = clip.embed_texts(texts)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        out[f"zero_shot_{name}"] = float(np.mean((images @ text.T).argmax(axis=1) == test.labels[name]))
    return out


def identity_accuracy(dino, first, second) -> dict[str, float]:
    """Top-1 retrieval: is each picture's nearest neighbour (cosine) among the second pictures its own individual?"""
    a, b = dino.embed_images(_pil(first)), dino.embed_images(_pil(second))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return {"identity_top1": float(np.mean((a @ b.T).argmax(axis=1) == np.arange(len(a)))), "n": len(a)}


# ---- the card ---------------------------------------------------------------------------------------------------


def model_card_markdown(card: dict) -> str:
    s, q, hw = card["settings"], card["quality"], card["hardware"]
    base = q["base_model"]
    stage_rows = "\n".join(f"| {name} | {v.get('steps', '')} | {v['seconds']} | {v.get('cpu_seconds', '')} |"
                           for name, v in card["stages"].items())
    extractor_rows = "\n".join(f"| {name} | {', '.join(f'{k} {v:.3f}' if isinstance(v, float) else f'{k} {v}' for k, v in values.items())} |"
                               for name, values in q["extractors"].items())
    from conceptbench.world_models.quality import markdown_report

    base_settings = q["base_model_settings"]
    report = markdown_report(base, "Base model (builtin:world) on world captions",
                             f"{base_settings['per_caption']} images per caption, {base_settings['scheduler']} "
                             f"{base_settings['steps']} steps, guidance {base_settings['guidance_scale']}.")
    return f"""# The conceptbench world models

Models pretrained by `python -m conceptbench.world_models build` on the procedural world of `conceptbench/world/`
(8 classes, 7 contexts, photo or painting, Elmo holding; {s['images']} training scenes at {s['size']} px, seed
{s['seed']}). They load with stock `from_pretrained` calls: `base_model/` is a Stable Diffusion 1.x pipeline
folder, `clip/` a CLIPModel, `dino/` a ViTModel, `oracle/` a ResNetForImageClassification and
`inception/` the FID Inception-v3 architecture (channel scale {s['inception_scale']}) as `.safetensors`.
Every file's sha256 is in `card.json`; `tests/unit/world/test_world.py` checks them.

- Built in {card['wall_time_s'] / 60:.1f} minutes of wall time (sum of the stages below; {card['cpu_time_s'] / 60:.1f}
  CPU minutes of training) on {hw['cpus']} CPUs ({hw['processor']}, {hw['torch_threads']} torch
  threads, torch {hw['torch']}, GPU: {hw['cuda'] or 'none'}).
- Size: {card['size_mb']} MB; parameters: {', '.join(f'{k} {v:,}' for k, v in card['parameters'].items())}.

| stage | steps | wall seconds | CPU seconds (all threads) |
|---|---|---|---|
{stage_rows}

## Extractors on held-out world images ({s['test_images']} scenes)

| model | accuracy |
|---|---|
{extractor_rows}

{report.replace('# ', '## ', 1)}
## Settings

```json
{json.dumps(s, indent=2)}
```
"""


def read_card(folder: Path) -> dict:
    return json.loads((Path(folder) / CARD_JSON).read_text())
