"""How well a base model knows the world: the oracle's verdict on its pictures of world captions, and FID/KID.

The captions cover every class in every context as a photo, every class as a painting (plain and in a forest) and
held by Elmo. For each caption the base model draws `per_caption` images; the oracle reads back class, context,
rendering and holding, and the accuracies are reported per class and per context. The same captions, rendered by
the world itself with other seeds, are the real images that FID and KID (world Inception features) compare with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conceptbench.scoring.distances import frechet_distance, kernel_inception_distance
from conceptbench.scoring.oracle import oracle_hits
from conceptbench.world import vocabulary as V
from conceptbench.world.scenes import sample_scene

Caption = tuple[str, str, str, bool]  # class, context, rendering, holding


def quality_captions() -> list[Caption]:
    captions = [(c, ctx, "photo", False) for c in V.CLASSES for ctx in V.CONTEXTS]
    captions += [(c, ctx, "painting", False) for c in V.CLASSES for ctx in ("plain", "forest")]
    captions += [(c, "plain", "photo", True) for c in V.CLASSES]
    return captions


def caption_text(item: Caption) -> str:
    class_noun, context, rendering, holding = item
    return V.caption(class_noun, context, rendering, holding)


def real_images(captions: list[Caption], per_caption: int, seed: int, size: int) -> np.ndarray:
    """World renders of the captions (colours and looks drawn at random, as the captions leave them open)."""
    from conceptbench.world.dataset import render_scenes

    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng, c, ctx, rendering, holding)
              for c, ctx, rendering, holding in captions for _ in range(per_caption)]
    return render_scenes(scenes, size)


def oracle_table(oracle_features: np.ndarray, labels: list[str], captions: list[Caption], per_caption: int):
    """One row per image: what was asked and whether the oracle sees it (class, context, rendering, holding)."""
    import pandas as pd

    rows = []
    for k, (class_noun, context, rendering, holding) in enumerate(captions):
        block = oracle_features[k * per_caption:(k + 1) * per_caption]
        asked = {"class": class_noun, "context": context, "rendering": rendering, "holding": "yes" if holding else "no"}
        hits = {f"{name}_ok": oracle_hits(block, labels, {name: value}) for name, value in asked.items()}
        for i in range(per_caption):
            rows.append({"caption": caption_text(captions[k]), **{f"asked_{n}": v for n, v in asked.items()},
                         **{name: bool(h[i]) for name, h in hits.items()}})
    return pd.DataFrame(rows)


def summarise(table, fid: float, kid: float, n: int) -> dict:
    """Accuracies overall, per class and per context (photos), and FID/KID with their n."""
    photos = table[(table.asked_rendering == "photo") & (table.asked_holding == "no")]
    return {
        "n_images": int(len(table)),
        "class_accuracy": float(table.class_ok.mean()),
        "context_accuracy": float(photos.context_ok.mean()),
        "rendering_accuracy": float(table.rendering_ok.mean()),
        "holding_accuracy": float(table.holding_ok.mean()),
        "class_accuracy_per_class": {c: float(g.class_ok.mean()) for c, g in table.groupby("asked_class", sort=False)},
        "context_accuracy_per_context": {c: float(g.context_ok.mean())
                                         for c, g in photos.groupby("asked_context", sort=False)},
        "fid_inception": fid, "kid_inception": kid, "fid_kid_n": n,
    }


def measure(generated: np.ndarray, real: np.ndarray, captions: list[Caption], per_caption: int, oracle,
            inception) -> tuple:
    """(per-image table, summary) for generated images (uint8 N x H x W x 3, in caption order)."""
    from PIL import Image

    as_pil = [Image.fromarray(a) for a in generated]
    table = oracle_table(oracle.embed_images(as_pil), oracle.labels, captions, per_caption)
    fake = inception.embed_images(as_pil)
    true = inception.embed_images([Image.fromarray(a) for a in real])
    summary = summarise(table, frechet_distance(fake, true), kernel_inception_distance(fake, true), len(fake))
    return table, summary


def markdown_report(summary: dict, title: str, settings: str) -> str:
    lines = [f"# {title}", "", settings, "",
             f"- images: {summary['n_images']} ({len(quality_captions())} captions)",
             f"- oracle class accuracy: {summary['class_accuracy']:.1%}",
             f"- oracle context accuracy (photos): {summary['context_accuracy']:.1%}",
             f"- oracle rendering accuracy (photo vs painting): {summary['rendering_accuracy']:.1%}",
             f"- oracle holding accuracy (Elmo or not): {summary['holding_accuracy']:.1%}",
             f"- FID {summary['fid_inception']:.2f}, KID {summary['kid_inception']:.4f} (world Inception, "
             f"n = {summary['fid_kid_n']} generated vs {summary['fid_kid_n']} world images)", "",
             "| class | oracle class accuracy |", "|---|---|"]
    lines += [f"| {c} | {v:.0%} |" for c, v in summary["class_accuracy_per_class"].items()]
    lines += ["", "| context | oracle context accuracy |", "|---|---|"]
    lines += [f"| {c} | {v:.0%} |" for c, v in summary["context_accuracy_per_context"].items()]
    return "\n".join(lines) + "\n"


def run_report(markdown_path, table_path, *, per_caption: int, generation: dict, seed: int, device: str,
               log) -> dict:
    """The world_quality rule: generate with builtin:world, judge, write the Markdown report and the per-image CSV."""
    from conceptbench.diffusion.devices import pick_device
    from conceptbench.diffusion.generation import generate_batches
    from conceptbench.diffusion.pipelines import load_pipeline
    from conceptbench.diffusion.schedulers import use_scheduler
    from conceptbench.diffusion.sources import BUILTIN_WORLD
    from conceptbench.scoring.extractors import Extractor

    device = pick_device(device)
    pipe = use_scheduler(load_pipeline(BUILTIN_WORLD), generation["scheduler"]).to(device)
    captions = quality_captions()
    prompts = [caption_text(c) for c in captions for _ in range(per_caption)]
    log(f"generating {len(prompts)} images of {len(captions)} world captions")
    images = generate_batches(pipe, prompts, [seed + i for i in range(len(prompts))], steps=generation["steps"],
                              guidance_scale=generation["guidance_scale"], resolution=generation["resolution"],
                              batch_size=max(generation["batch_size"], 32), output_type="np")
    generated = (np.stack(images) * 255).round().astype(np.uint8)
    real = real_images(captions, per_caption, seed + 1_000_003, generation["resolution"])
    table, summary = measure(generated, real, captions, per_caption, Extractor("oracle", BUILTIN_WORLD, device),
                             Extractor("inception", BUILTIN_WORLD, device))
    settings = (f"{per_caption} image(s) per caption, {generation['scheduler']} {generation['steps']} steps, "
                f"guidance {generation['guidance_scale']}, {generation['resolution']} px (the run's generation "
                "settings); judged by the world oracle.")
    Path(markdown_path).write_text(markdown_report(summary, "builtin:world on world captions", settings))
    table.to_csv(table_path, index=False)
    log(f"class {summary['class_accuracy']:.1%}, context {summary['context_accuracy']:.1%}, "
        f"FID {summary['fid_inception']:.2f}, KID {summary['kid_inception']:.4f} (n = {summary['fid_kid_n']})")
    return summary
