"""Peak memory of one training step of each method at real shape, with and without each memory option.

    python bench/memory.py [--shape sd15 sdxl] [--methods lora dreambooth ...] [--variants base all ...]
                           [--quick] [--limit-gb N] [--out FILE.json]

No weights can be downloaded where this runs, so the models are built with random weights from the published
configs of the real ones (the dimensions in SHAPES below, from the diffusers-format config.json files on the
Hugging Face hub: stable-diffusion-v1-5/stable-diffusion-v1-5 and stabilityai/stable-diffusion-xl-base-1.0, their
unet/, vae/, text_encoder/ and text_encoder_2/ folders). Memory depends on shapes, not on the weights' values.

Each measurement is one fresh process (peaks never mix): it builds the pipeline, prepares the method, and trains
one step at batch 1 (DreamBooth and Custom Diffusion with their class prior, so the UNet sees 2 images) through the
project's own loop (conceptbench.methods.training.run_training). It reports, on a GPU, torch's peak CUDA allocation
(`torch.cuda.max_memory_allocated`); on a CPU, the process's peak resident set (`ru_maxrss`) as a proxy, which also
counts the libraries (~1 GB) and the float32 model the process builds before training.

Variants (the memory options of conceptbench/methods/memory.py; the loss options, snr_gamma and noise_offset, add
one number per image and are in `all` only): `base` float32; `mixed` mixed precision (fp16 on CUDA, bf16 on a
CPU, which has no fp16 autocast); `frozen` mixed + frozen_dtype compute; `checkpointing` mixed +
gradient_checkpointing; `adamw8bit` mixed + optimizer adamw8bit (where bitsandbytes is installed); `all` all of them.

On a CPU the parent watches each child's resident set and stops it past --limit-gb (default: 80% of the memory
available when it starts), printing that it does not fit: the machine is never pushed into swap or the OOM killer.
--quick runs the same code at a small shape (SD-1.5's layout, a tenth of the channels, 64 px) as a smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Published dimensions (config.json of each component on the hub; diffusers' and transformers' defaults fill in the
# rest, which match these models: norm groups 32, SD's scaled-linear schedule, CLIP's vocabulary of 49408 tokens).
SHAPES = {
    # stable-diffusion-v1-5/stable-diffusion-v1-5: UNet 860M, VAE 84M, CLIP ViT-L/14 text encoder 123M
    "sd15": {
        "resolution": 512, "family": "sd",
        "unet": dict(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                     down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                     up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768,
                     attention_head_dim=8),
        "vae": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=512,
                    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                    scaling_factor=0.18215),
        "text_encoders": [dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                               hidden_act="quick_gelu", projection_dim=768)],
    },
    # stabilityai/stable-diffusion-xl-base-1.0: UNet 2.6B, VAE 84M, CLIP ViT-L (123M) and OpenCLIP ViT-bigG (695M)
    "sdxl": {
        "resolution": 1024, "family": "sdxl",
        "unet": dict(sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                     down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                     transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20),
                     cross_attention_dim=2048, use_linear_projection=True, addition_embed_type="text_time",
                     addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816),
        "vae": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=1024,
                    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                    scaling_factor=0.13025),
        "text_encoders": [dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                               hidden_act="quick_gelu", projection_dim=768),
                          dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                               hidden_act="gelu", projection_dim=1280)],
    },
}
# --quick: the same layouts with a tenth of the channels and few layers, at 64 px.
QUICK = {
    "sd15": {**SHAPES["sd15"], "resolution": 64,
             "unet": {**SHAPES["sd15"]["unet"], "sample_size": 8, "block_out_channels": (32, 64, 128, 128),
                      "cross_attention_dim": 64},
             "vae": {**SHAPES["sd15"]["vae"], "block_out_channels": (32, 32, 64, 64), "sample_size": 64},
             "text_encoders": [dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                    hidden_act="quick_gelu", projection_dim=64)]},
    "sdxl": {**SHAPES["sdxl"], "resolution": 64,
             "unet": {**SHAPES["sdxl"]["unet"], "sample_size": 8, "block_out_channels": (32, 64, 128),
                      "transformer_layers_per_block": (1, 1, 2), "attention_head_dim": (2, 4, 8),
                      "cross_attention_dim": 128, "addition_time_embed_dim": 8,
                      "projection_class_embeddings_input_dim": 64 + 6 * 8},
             "vae": {**SHAPES["sdxl"]["vae"], "block_out_channels": (32, 32, 64, 64), "sample_size": 64},
             "text_encoders": [dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                    hidden_act="quick_gelu", projection_dim=64)] * 2},
}
CLIP_VOCAB = 49408
METHODS = ("textual_inversion", "dreambooth", "lora", "pivotal_tuning", "custom_diffusion")
PRIOR = {"dreambooth", "custom_diffusion"}  # their recipes train with the class prior
VARIANTS = ("base", "mixed", "frozen", "checkpointing", "adamw8bit", "all")


def variant_settings(variant: str, cuda: bool) -> dict:
    mixed = {"mixed_precision": "fp16" if cuda else "bf16"}
    return {"base": {}, "mixed": mixed, "frozen": {**mixed, "frozen_dtype": "compute"},
            "checkpointing": {**mixed, "gradient_checkpointing": True},
            "adamw8bit": {**mixed, "optimizer": "adamw8bit"},
            "all": {**mixed, "frozen_dtype": "compute", "gradient_checkpointing": True, "optimizer": "adamw8bit",
                    "snr_gamma": 5.0, "noise_offset": 0.1}}[variant]


# ---- in the measured process ---------------------------------------------------------------------------------


def _tokenizer(folder: Path):
    """A CLIP tokenizer with CLIP's vocabulary size (49408), so that the token embedding has its real size: the
    character-level vocabulary of the tiny models, padded with entries no text produces."""
    from transformers import CLIPTokenizer

    from conceptbench.diffusion.tokenizers import char_level_vocab, write_tiny_tokenizer

    write_tiny_tokenizer(folder)
    vocab = char_level_vocab(())
    vocab.update({f"<unused{i}>": len(vocab) for i in range(CLIP_VOCAB - len(vocab))})
    (folder / "vocab.json").write_text(json.dumps(vocab))
    return CLIPTokenizer.from_pretrained(folder, model_max_length=77)


def build_pipeline(shape: dict, work: Path):
    """The pipeline of `shape`, random weights, in memory."""
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from conceptbench.diffusion.pipelines import NO_EXTRAS, sd1_scheduler

    torch.manual_seed(0)
    tokenizers = [_tokenizer(work / f"tokenizer{i}") for i in range(len(shape["text_encoders"]))]
    encoders = []
    for index, (tokenizer, dims) in enumerate(zip(tokenizers, shape["text_encoders"])):
        config = CLIPTextConfig(vocab_size=len(tokenizer), max_position_embeddings=77,
                                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                pad_token_id=tokenizer.pad_token_id, **dims)
        # SDXL's second encoder gives the pooled projection too.
        encoders.append((CLIPTextModelWithProjection if index == 1 else CLIPTextModel)(config))
    unet = UNet2DConditionModel(**shape["unet"])
    vae = AutoencoderKL(**shape["vae"])
    if shape["family"] == "sd":
        return StableDiffusionPipeline(vae=vae, text_encoder=encoders[0], tokenizer=tokenizers[0], unet=unet,
                                       scheduler=sd1_scheduler(), **NO_EXTRAS)
    return StableDiffusionXLPipeline(vae=vae, text_encoder=encoders[0], text_encoder_2=encoders[1],
                                     tokenizer=tokenizers[0], tokenizer_2=tokenizers[1], unet=unet,
                                     scheduler=sd1_scheduler())


def child(spec: dict) -> None:
    """Train one step and print one JSON line with the peak."""
    import resource
    import tempfile

    import numpy as np
    import torch
    from PIL import Image

    from conceptbench.methods import get_method, method_params
    from conceptbench.methods.job import training_config
    from conceptbench.methods.training import run_training

    cuda = spec["device"] == "cuda"
    shape = (QUICK if spec["quick"] else SHAPES)[spec["shape"]]
    size = shape["resolution"]
    params = method_params({"type": spec["method"], "steps": 1, "checkpoint_every": 0, "learning_rate": 1e-5,
                            **({"prior_preservation": spec["method"] in PRIOR}
                               if spec["method"] != "textual_inversion" else {}),
                            **variant_settings(spec["variant"], cuda)})
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(2)]
    with tempfile.TemporaryDirectory() as work:
        started = time.time()
        pipe = build_pipeline(shape, Path(work))
        setup = get_method(spec["method"]).prepare(pipe, "concept", "dog", params)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        run_training(pipe, setup, training_config(params), images, images if params.get("prior_preservation") else None,
                     state_dir=Path(work) / "state", run_id="bench", log=lambda *_: None, progress=False,
                     device=spec["device"])
        if cuda:
            torch.cuda.synchronize()
    peak_gb = (torch.cuda.max_memory_allocated() if cuda
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30
    print("RESULT " + json.dumps({"peak_gb": round(peak_gb, 2), "seconds": round(time.time() - started, 1),
                                  "trainable": sum(p.numel() for p in setup.trainable.values())}), flush=True)


# ---- the parent ------------------------------------------------------------------------------------------------


def available_gb() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**30


def measure(spec: dict, limit_gb: float | None) -> dict:
    """Run one child; on a CPU stop it once its resident set passes limit_gb."""
    import psutil

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    watched, peak_seen = psutil.Process(process.pid), 0.0
    while process.poll() is None:
        try:
            peak_seen = max(peak_seen, watched.memory_info().rss / 2**30)
        except psutil.NoSuchProcess:
            break
        if limit_gb is not None and peak_seen > limit_gb:
            process.kill()
            process.wait()
            return {"fits": False, "note": f"stopped at {peak_seen:.1f} GB resident, past the limit of {limit_gb:.1f} GB"}
        time.sleep(0.2)
    out, err = process.communicate()
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        return {"fits": process.returncode == 0, "note": f"failed (exit {process.returncode}): {tail[:200]}"}
    return {"fits": True, **json.loads(lines[-1].removeprefix("RESULT "))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--shape", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="small shape, a smoke run")
    parser.add_argument("--limit-gb", type=float, help="CPU only: stop a child past this resident set")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    import torch

    from conceptbench.methods.extras import bitsandbytes_problem

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    limit = None if cuda else (args.limit_gb or 0.8 * available_gb())
    where = torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores), resident set, limit {limit:.1f} GB"
    print(f"# peak memory of one training step, batch 1, {where}{', --quick shape' if args.quick else ''}")
    print("| shape | method | variant | peak GB | s | trainable params | note |\n|---|---|---|---|---|---|---|")
    rows = []
    for shape in args.shape:
        for method in args.methods:
            if shape == "sdxl" and method == "custom_diffusion":
                continue  # tested on SD-1.x only (README)
            for variant in args.variants:
                spec = {"shape": shape, "method": method, "variant": variant, "device": device, "quick": args.quick}
                if "optimizer" in variant_settings(variant, cuda) and bitsandbytes_problem():
                    row = {"fits": None, "note": "skipped: " + bitsandbytes_problem()}
                else:
                    row = measure(spec, limit)
                rows.append({**spec, **row})
                print(f"| {shape} | {method} | {variant} | {row.get('peak_gb', '—')} | {row.get('seconds', '—')} | "
                      f"{row.get('trainable', '—'):,} | {row.get('note', '')} |" if "trainable" in row else
                      f"| {shape} | {method} | {variant} | — | — | — | {row['note']} |", flush=True)
                if args.out:
                    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
