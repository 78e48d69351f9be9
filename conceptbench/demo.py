"""Deterministic generator for the two tiny demo concepts committed under data/demo/.

The workflow's default config trains on these so it runs without downloading photos. Each concept
is one simple drawn object with a distinctive shape and colour pattern, shown under small changes of
position, scale, rotation and background, like a handful of photos of the same thing.

    python -m conceptbench.demo data/demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

N_IMAGES = 5
SUPERSAMPLE = 4  # draw at 4x size and downsample, for smooth (anti-aliased) edges

# Backgrounds chosen to contrast with both objects (no reds or blues).
BACKGROUNDS = [(236, 226, 200), (200, 225, 190), (225, 225, 225), (245, 235, 160), (190, 220, 215)]


def _draw_robot(d: ImageDraw.ImageDraw, s: int) -> None:
    """A red toy robot with yellow belly stripes, white eyes and a yellow-tipped antenna."""
    def box(x0, y0, x1, y1):
        return [round(x0 * s), round(y0 * s), round(x1 * s), round(y1 * s)]

    r = round(0.03 * s)
    d.rectangle(box(0.38, 0.78, 0.46, 0.92), fill=(60, 60, 60))  # legs
    d.rectangle(box(0.54, 0.78, 0.62, 0.92), fill=(60, 60, 60))
    d.rectangle(box(0.22, 0.46, 0.31, 0.70), fill=(150, 150, 150))  # arms
    d.rectangle(box(0.69, 0.46, 0.78, 0.70), fill=(150, 150, 150))
    d.rounded_rectangle(box(0.31, 0.42, 0.69, 0.80), radius=r, fill=(210, 30, 30))  # body
    d.rectangle(box(0.31, 0.53, 0.69, 0.58), fill=(250, 210, 20))  # belly stripes
    d.rectangle(box(0.31, 0.64, 0.69, 0.69), fill=(250, 210, 20))
    d.line(box(0.50, 0.10, 0.50, 0.22), fill=(60, 60, 60), width=max(1, round(0.02 * s)))  # antenna
    d.ellipse(box(0.46, 0.06, 0.54, 0.14), fill=(250, 210, 20))
    d.rounded_rectangle(box(0.36, 0.20, 0.64, 0.42), radius=r, fill=(170, 20, 20))  # head
    d.ellipse(box(0.40, 0.25, 0.48, 0.33), fill=(255, 255, 255))  # eyes
    d.ellipse(box(0.52, 0.25, 0.60, 0.33), fill=(255, 255, 255))
    d.ellipse(box(0.43, 0.28, 0.46, 0.31), fill=(0, 0, 0))
    d.ellipse(box(0.55, 0.28, 0.58, 0.31), fill=(0, 0, 0))
    d.rectangle(box(0.43, 0.36, 0.57, 0.38), fill=(40, 40, 40))  # mouth


def _draw_dog(d: ImageDraw.ImageDraw, s: int) -> None:
    """A blue dog seen from the side, with a white belly patch, floppy dark ears and a yellow collar."""
    def box(x0, y0, x1, y1):
        return [round(x0 * s), round(y0 * s), round(x1 * s), round(y1 * s)]

    blue, dark = (40, 90, 210), (20, 40, 120)
    d.line(box(0.20, 0.52, 0.10, 0.36), fill=blue, width=max(1, round(0.05 * s)))  # tail
    for x in (0.24, 0.34, 0.56, 0.66):  # legs
        d.rectangle(box(x, 0.62, x + 0.08, 0.86), fill=blue)
    d.ellipse(box(0.18, 0.42, 0.76, 0.72), fill=blue)  # body
    d.ellipse(box(0.34, 0.56, 0.60, 0.70), fill=(245, 245, 245))  # belly patch
    d.ellipse(box(0.56, 0.18, 0.88, 0.48), fill=blue)  # head
    d.ellipse(box(0.78, 0.30, 0.94, 0.44), fill=blue)  # snout
    d.ellipse(box(0.89, 0.31, 0.95, 0.37), fill=(0, 0, 0))  # nose
    d.ellipse(box(0.72, 0.25, 0.78, 0.31), fill=(255, 255, 255))  # eye
    d.ellipse(box(0.74, 0.27, 0.77, 0.30), fill=(0, 0, 0))
    d.ellipse(box(0.58, 0.20, 0.68, 0.46), fill=dark)  # floppy ear
    d.line(box(0.58, 0.47, 0.72, 0.50), fill=(250, 210, 20), width=max(1, round(0.035 * s)))  # collar


# name -> (class noun, kind, draw function, seed). The two cover both kinds and a two-word class noun.
DEMO_CONCEPTS = {
    "red_toy": ("toy robot", "object", _draw_robot, 1001),
    "blue_dog": ("dog", "live", _draw_dog, 2002),
}


def _render(draw_fn, rng: np.random.Generator, size: int) -> Image.Image:
    """One 'photo': the object drawn, rotated, scaled and shifted over a background picked by `rng`."""
    big = size * SUPERSAMPLE
    obj = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw_fn(ImageDraw.Draw(obj), big)

    # Convert rng draws to plain Python numbers so the drawing never depends on numpy scalar types.
    angle = float(rng.uniform(-20.0, 20.0))
    scale = float(rng.uniform(0.75, 1.0))
    dx, dy = (float(v) for v in rng.uniform(-0.08, 0.08, size=2))
    base = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    jitter = rng.integers(-12, 13, size=3)
    background = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter))

    obj = obj.rotate(angle, resample=Image.Resampling.BICUBIC)
    side = round(big * scale)
    obj = obj.resize((side, side), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (big, big), background + (255,))
    x = round((big - side) / 2 + dx * big)
    y = round((big - side) / 2 + dy * big)
    canvas.alpha_composite(obj, (x, y))
    return canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def make_demo_concepts(out_root: str | Path, size: int = 64) -> dict[str, Path]:
    """Write out_root/<name>/00.png..04.png and concept.yaml for each demo concept; return {name: folder}.

    Output is byte-identical on every call for a given Pillow/zlib (seeded rng, PNGs without timestamps).
    """
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    out_root = Path(out_root)
    folders = {}
    for name, (class_noun, kind, draw_fn, seed) in DEMO_CONCEPTS.items():
        folder = out_root / name
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        for i in range(N_IMAGES):
            # No pnginfo is passed, so PIL writes no tIME/text chunks and the bytes stay stable.
            _render(draw_fn, rng, size).save(folder / f"{i:02d}.png", format="PNG")
        header = "# Generated by `python -m conceptbench.demo`; edit conceptbench/demo.py instead.\n"
        metadata = yaml.safe_dump({"class": class_noun, "kind": kind}, sort_keys=False)
        (folder / "concept.yaml").write_text(header + metadata, encoding="utf-8")
        folders[name] = folder
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the deterministic demo concepts (e.g. into data/demo).")
    parser.add_argument("out_root", type=Path, help="folder to write one sub-folder per demo concept into")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    args = parser.parse_args(argv)
    for name, folder in make_demo_concepts(args.out_root, size=args.size).items():
        print(f"{name}: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
