"""GPU check at real size: SD-1.5-shaped random pipeline, every method trained and loaded, images generated.

No weights can be downloaded where this runs, so the pipeline has SD-1.5's architecture (UNet 860M, VAE, CLIP
ViT-L text encoder) with random weights: it measures speed and memory and proves the real-size code paths
(train_concept, stock loaders, generation, full-size feature extractors), not image quality.

    python bench/gpu_sd15_check.py OUT_DIR [--steps 30]

Prints one JSON line per measurement and writes them to OUT_DIR/gpu_check.json.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conceptbench.diffusion.generation import generate_batches  # noqa: E402
from conceptbench.diffusion.pipelines import NO_EXTRAS
from conceptbench.diffusion.schedulers import use_scheduler
from conceptbench.diffusion.tokenizers import write_tiny_tokenizer
from conceptbench.inputs.concepts import load_concept_images, write_normalised_images  # noqa: E402
from conceptbench.methods import get_method, method_params  # noqa: E402
from conceptbench.methods.job import train_concept  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def build_sd15_shaped(out: Path) -> Path:
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    write_tiny_tokenizer(out / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(out / "tokenizer", model_max_length=77)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                                cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=512)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                            **NO_EXTRAS).save_pretrained(out, safe_serialization=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/conceptbench-gpu")
    results = []

    def record(**row):
        results.append(row)
        print(json.dumps(row), flush=True)
        (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1))

    record(device=torch.cuda.get_device_name(0), torch=torch.__version__)
    t = time.time()
    model = build_sd15_shaped(work / "sd15")
    record(stage="build_and_save_sd15_shaped", seconds=round(time.time() - t, 1))

    targets = work / "targets" / "blue_dog"
    write_normalised_images(load_concept_images(REPO / "data" / "demo" / "blue_dog", 512), targets)
    methods = {
        "textual_inversion": {"type": "textual_inversion", "learning_rate": 5e-4, "scale_lr": True, "batch_size": 4,
                              "mixed_precision": "fp16"},
        "dreambooth": {"type": "dreambooth", "learning_rate": 5e-6, "prior_preservation": True, "batch_size": 1},
        "lora": {"type": "lora", "learning_rate": 1e-4, "rank": 4, "batch_size": 1, "mixed_precision": "fp16"},
    }
    for name, entry in methods.items():
        params = method_params({**entry, "steps": args.steps, "checkpoint_every": args.steps // 2})
        torch.cuda.reset_peak_memory_stats()
        meta = train_concept(base_model=work / "sd15", targets_dir=targets, class_images_dir=targets,
                             concept_name="blue_dog", class_noun="dog", method_name=name, params=params,
                             out_dir=work / "ckpt" / name, state_dir=work / "state" / name, device="cuda")
        record(stage="train", method=name, steps=args.steps, wall_time_s=meta["wall_time_s"],
               peak_gpu_mb=meta["peak_memory_mb"], final_loss=meta["final_loss"])

        t = time.time()
        pipe = get_method(params["type"]).load(model, work / "ckpt" / name, params)
        pipe = use_scheduler(pipe, "ddim").to("cuda")
        load_s = time.time() - t
        t = time.time()
        phrase = get_method(params["type"]).concept_phrase("blue_dog", "dog", params)
        images = generate_batches(pipe, [f"a photo of {phrase} in a forest"] * 5, list(range(5)), steps=25,
                                  guidance_scale=7.5, resolution=512, batch_size=5)
        torch.cuda.synchronize()
        record(stage="generate", method=name, images=len(images), size=images[0].size, steps=25,
               load_s=round(load_s, 1), seconds=round(time.time() - t, 1))
        images[0].save(args.out / f"{name}.png")
        del pipe

    from conceptbench.scoring.extractors import Extractor
    from conceptbench.scoring.inception import FIDInceptionV3, save_fid_inception

    torch.manual_seed(0)
    save_fid_inception(FIDInceptionV3(), work / "inception.safetensors")
    extractor = Extractor("inception", work / "inception.safetensors", device="cuda")
    t = time.time()
    feats = extractor.embed_images(images * 20)
    torch.cuda.synchronize()
    record(stage="inception_full_size", images=len(feats), dim=feats.shape[1], seconds=round(time.time() - t, 2))


if __name__ == "__main__":
    main()
