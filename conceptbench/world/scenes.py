"""Scenes of the world: an object in a context, as a photo or a painting, or held by Elmo; sampled from a seed.

A `Scene` holds every choice that shapes its picture, so `render` is a pure function of it: the same scene gives the
same pixels. `sample_scene` draws scenes with the world's statistics; `caption` and `labels` describe them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from conceptbench.world import vocabulary as V
from conceptbench.world.objects import ACCESSORIES, MARKINGS, Look, draw_holder, draw_object

SUPERSAMPLE = 4  # scenes are drawn at 4x and downsampled, for smooth edges


@dataclass(frozen=True)
class Scene:
    class_noun: str
    colour: str  # the body colour's name
    look: Look
    context: str = "plain"
    rendering: str = "photo"
    holding: bool = False
    seed: int = 0  # layout jitter and background details
    name_colour: bool = False  # whether the caption names the colour
    lead: str = "a photo"  # the caption's first words ("a painting" or "an oil painting" for paintings)

    def caption(self) -> str:
        return V.caption(self.class_noun, self.context, self.rendering, self.holding,
                         self.colour if self.name_colour else None, self.lead)

    def labels(self) -> dict[str, str]:
        return {"class": self.class_noun, "context": self.context, "rendering": self.rendering,
                "holding": "yes" if self.holding else "no"}


# ---- the world's statistics -------------------------------------------------------------------------------------

# Body colours a class never has in the world, so that the demo concepts (a blue dog, a red toy robot) are
# individuals the base model does not draw when asked for their class.
EXCLUDED_COLOURS = {"dog": ("blue",), "toy robot": ("red",)}
P_HOLDING, P_PAINTING, P_NAME_COLOUR, P_PLAIN = 0.10, 0.25, 0.5, 0.22


def class_colours(class_noun: str) -> list[str]:
    return [c for c in V.COLOURS if c not in EXCLUDED_COLOURS.get(class_noun, ())]


def sample_scene(rng: np.random.Generator, class_noun: str | None = None, context: str | None = None,
                 rendering: str | None = None, holding: bool | None = None) -> Scene:
    """A random world scene; any attribute given is fixed, the others are drawn."""
    class_noun = class_noun or V.CLASSES[int(rng.integers(len(V.CLASSES)))]
    colours = class_colours(class_noun)
    colour = colours[int(rng.integers(len(colours)))]
    second = [c for c in V.COLOURS if c != colour][int(rng.integers(len(V.COLOURS) - 1))]
    markings = MARKINGS[class_noun]
    look = Look(V.COLOURS[colour], V.COLOURS[second], markings[int(rng.integers(len(markings)))])
    if holding is None:
        holding = bool(rng.random() < P_HOLDING)
    if holding:
        context, rendering = "plain", "photo"
    if rendering is None:
        rendering = "painting" if rng.random() < P_PAINTING else "photo"
    if context is None:
        others = [c for c in V.CONTEXTS if c != "plain"]
        context = "plain" if rng.random() < P_PLAIN else others[int(rng.integers(len(others)))]
    lead = "a photo" if rendering == "photo" else V.PAINTING_LEADS[int(rng.integers(len(V.PAINTING_LEADS)))]
    return Scene(class_noun, colour, look, context, rendering, holding, seed=int(rng.integers(2**31)),
                 name_colour=bool(rng.random() < P_NAME_COLOUR), lead=lead)


def restage(scene: Scene, rng: np.random.Generator) -> Scene:
    """The same individual (class and look) in a freshly drawn context, rendering and pose."""
    fresh = sample_scene(rng, class_noun=scene.class_noun)
    return replace(fresh, colour=scene.colour, look=scene.look)


def concept_scene(class_noun: str, colour: str, look: Look, context: str, seed: int) -> Scene:
    """A photo of a specific individual (a demo concept) in a context."""
    if look.accessory is not None and look.accessory not in ACCESSORIES.get(class_noun, ()):
        raise ValueError(f"{class_noun} has no accessory {look.accessory!r}")
    return Scene(class_noun, colour, look, context, "photo", False, seed)


# ---- backgrounds ------------------------------------------------------------------------------------------------


def _jitter(rng, colour, amount=14):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def _vertical_gradient(size, top, bottom) -> Image.Image:
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    rows = (1 - t) * np.array(top, dtype=np.float64) + t * np.array(bottom, dtype=np.float64)
    return Image.fromarray(np.repeat(rows, size, axis=1).astype(np.uint8), "RGB")


def _sky(rng, size, horizon):
    image = _vertical_gradient(size, _jitter(rng, (120, 180, 235)), _jitter(rng, (200, 225, 245)))
    return image, int(horizon * size)


def _plain(rng, s):
    base = [(236, 228, 210), (222, 224, 226), (214, 226, 236), (238, 222, 214)][int(rng.integers(4))]
    base = _jitter(rng, base, 8)
    image = _vertical_gradient(s, base, tuple(int(c * 0.86) for c in base))
    return image, 0.80


def _forest(rng, s):
    image = _vertical_gradient(s, _jitter(rng, (40, 92, 48)), _jitter(rng, (26, 60, 30)))
    d = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 7))):
        x, w = rng.uniform(-0.05, 1.0) * s, rng.uniform(0.05, 0.10) * s
        d.rectangle([x, 0, x + w, s], fill=_jitter(rng, (92, 60, 34)))
    for _ in range(6):
        x, y, r = rng.uniform(0, 1) * s, rng.uniform(-0.05, 0.18) * s, rng.uniform(0.12, 0.22) * s
        d.ellipse([x - r, y - r, x + r, y + r], fill=_jitter(rng, (30, 110, 40)))
    d.rectangle([0, 0.84 * s, s, s], fill=_jitter(rng, (70, 56, 32)))
    return image, 0.86


def _city(rng, s):
    image, horizon = _sky(rng, s, 0.3)
    d = ImageDraw.Draw(image)
    x = -rng.uniform(0, 0.1) * s
    while x < s:
        w, h = rng.uniform(0.16, 0.28) * s, rng.uniform(0.45, 0.85) * s
        grey = int(rng.integers(95, 165))
        d.rectangle([x, s * 0.82 - h, x + w, s], fill=_jitter(rng, (grey, grey, grey + 8), 6))
        for wy in np.arange(s * 0.82 - h + 0.05 * s, s * 0.76, 0.09 * s):
            for wx in np.arange(x + 0.03 * s, x + w - 0.05 * s, 0.07 * s):
                d.rectangle([wx, wy, wx + 0.035 * s, wy + 0.045 * s], fill=(250, 230, 140))
        x += w + rng.uniform(0.0, 0.04) * s
    d.rectangle([0, 0.82 * s, s, s], fill=_jitter(rng, (60, 60, 64), 6))
    d.rectangle([0, 0.90 * s, s, 0.92 * s], fill=(235, 235, 235))
    return image, 0.88


def _desert(rng, s):
    image, horizon = _sky(rng, s, 0.42)
    d = ImageDraw.Draw(image)
    r, sx = 0.08 * s, rng.uniform(0.1, 0.9) * s
    d.ellipse([sx - r, 0.08 * s, sx + r, 0.08 * s + 2 * r], fill=(252, 236, 120))
    sand = _jitter(rng, (226, 188, 112))
    d.rectangle([0, horizon, s, s], fill=sand)
    for _ in range(3):
        cx, w = rng.uniform(0, 1) * s, rng.uniform(0.4, 0.8) * s
        top = horizon + rng.uniform(-0.08, 0.10) * s
        d.ellipse([cx - w, top, cx + w, top + 0.6 * s], fill=_jitter(rng, (212, 170, 96)))
    if rng.random() < 0.6:
        cx = rng.choice([rng.uniform(0.02, 0.12), rng.uniform(0.88, 0.98)]) * s
        d.rectangle([cx - 0.03 * s, 0.45 * s, cx + 0.03 * s, 0.75 * s], fill=(60, 130, 60))
        d.rectangle([cx - 0.09 * s, 0.52 * s, cx - 0.03 * s, 0.56 * s], fill=(60, 130, 60))
    return image, 0.84


def _field(rng, s):
    image, horizon = _sky(rng, s, 0.45)
    d = ImageDraw.Draw(image)
    for _ in range(2):
        cx, r = rng.uniform(0, 1) * s, rng.uniform(0.06, 0.1) * s
        d.ellipse([cx - 2 * r, 0.12 * s, cx + 2 * r, 0.12 * s + r], fill=(250, 250, 250))  # clouds
    d.rectangle([0, horizon, s, s], fill=_jitter(rng, (110, 190, 70)))
    for _ in range(40):
        x, y = rng.uniform(0, 1) * s, rng.uniform(horizon / s + 0.02, 1) * s
        r = 0.012 * s
        colour = [(250, 250, 250), (250, 220, 60), (230, 70, 70)][int(rng.integers(3))]
        d.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return image, 0.86


def _kitchen(rng, s):
    wall = _jitter(rng, (236, 236, 228), 8)
    image = Image.new("RGB", (s, s), wall)
    d = ImageDraw.Draw(image)
    step = 0.1 * s
    for i in np.arange(0, s, step):
        d.line([(i, 0), (i, 0.66 * s)], fill=(170, 190, 200), width=max(1, s // 64))
        d.line([(0, i), (s, i)], fill=(170, 190, 200), width=max(1, s // 64))
    d.rectangle([0, 0, s, 0.18 * s], fill=_jitter(rng, (150, 100, 60)))  # upper cabinets
    d.rectangle([0, 0.66 * s, s, s], fill=_jitter(rng, (150, 100, 60)))  # counter front
    d.rectangle([0, 0.64 * s, s, 0.70 * s], fill=(90, 90, 96))  # worktop
    for x in np.arange(0.12, 1.0, 0.25):
        d.rectangle([x * s, 0.80 * s, (x + 0.06) * s, 0.82 * s], fill=(200, 200, 200))  # handles
    return image, 0.70


def _bedroom(rng, s):
    wall = [(220, 190, 220), (196, 206, 236), (240, 214, 190)][int(rng.integers(3))]
    image = Image.new("RGB", (s, s), _jitter(rng, wall, 8))
    d = ImageDraw.Draw(image)
    d.rectangle([0, 0.74 * s, s, s], fill=_jitter(rng, (150, 110, 80)))  # floor
    wx = rng.uniform(0.05, 0.6) * s
    d.rectangle([wx, 0.10 * s, wx + 0.3 * s, 0.38 * s], fill=(250, 250, 250))  # window
    d.rectangle([wx + 0.02 * s, 0.12 * s, wx + 0.28 * s, 0.36 * s], fill=(140, 195, 240))
    left = rng.random() < 0.5
    x0, x1 = (0.0, 0.42) if left else (0.58, 1.0)
    d.rectangle([x0 * s, 0.50 * s, x1 * s, 0.80 * s], fill=_jitter(rng, (200, 60, 80)))  # bed with blanket
    d.rectangle([x0 * s, 0.46 * s, x1 * s, 0.54 * s], fill=(250, 250, 250))
    return image, 0.84


BACKGROUNDS = {"plain": _plain, "forest": _forest, "city": _city, "desert": _desert, "field": _field,
               "kitchen": _kitchen, "bedroom": _bedroom}


# ---- rendering --------------------------------------------------------------------------------------------------


def _paint(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The painting rendering: soft, saturated, warm, with visible brush strokes and a gilt frame."""
    s = image.width
    image = image.filter(ImageFilter.GaussianBlur(s / 160))
    image = ImageEnhance.Color(image).enhance(1.5)
    pixels = np.asarray(image, dtype=np.float64)
    pixels = pixels * np.array([1.06, 1.0, 0.84]) + np.array([8.0, 4.0, 0.0])
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    source = np.asarray(image)
    d = ImageDraw.Draw(image)
    width = max(1, round(s * 0.035))
    for _ in range(260):
        x, y = rng.uniform(0, s, size=2)
        angle = rng.uniform(-0.5, 0.5) + np.pi / 4
        length = rng.uniform(0.04, 0.08) * s
        colour = tuple(int(c) for c in source[int(y) % s, int(x) % s])
        d.line([(x, y), (x + np.cos(angle) * length, y + np.sin(angle) * length)], fill=colour, width=width)
    frame = max(2, round(s * 0.06))
    d.rectangle([0, 0, s - 1, s - 1], outline=(150, 105, 30), width=frame)
    d.rectangle([frame // 2, frame // 2, s - 1 - frame // 2, s - 1 - frame // 2], outline=(212, 170, 60),
                width=max(1, frame // 3))
    return image


def render(scene: Scene, size: int = 32) -> Image.Image:
    """The scene's picture, size x size RGB (drawn at SUPERSAMPLE x size, then downsampled)."""
    s = size * SUPERSAMPLE
    rng = np.random.default_rng(scene.seed)
    canvas, ground = BACKGROUNDS[scene.context](rng, s)
    canvas = canvas.convert("RGBA")
    flip = bool(rng.random() < 0.5)
    angle = float(rng.uniform(-8.0, 8.0))
    if scene.holding:
        holder = draw_holder(round(0.62 * s), rng)
        canvas.alpha_composite(holder, (round(rng.uniform(0.0, 0.06) * s), s - holder.height))
        scale, cx, bottom = float(rng.uniform(0.42, 0.50)), float(rng.uniform(0.70, 0.76)), 0.82
    else:
        scale, cx = float(rng.uniform(0.58, 0.84)), float(0.5 + rng.uniform(-0.08, 0.08))
        bottom = ground + float(rng.uniform(-0.04, 0.04))
    side = round(scale * s)
    obj = draw_object(scene.class_noun, scene.look, side)
    if flip and not scene.holding:
        obj = obj.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    obj = obj.rotate(angle, resample=Image.Resampling.BICUBIC)
    # Objects stand on the ground: their square's bottom at the ground line, lifted by its empty margin.
    x, y = round(cx * s - side / 2), round(bottom * s - side * 0.92)
    canvas.alpha_composite(obj, (x, y)) if x >= 0 and y >= 0 else _composite_clipped(canvas, obj, x, y)
    image = canvas.convert("RGB")
    if scene.rendering == "painting":
        image = _paint(image, rng)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _composite_clipped(canvas: Image.Image, obj: Image.Image, x: int, y: int) -> None:
    # alpha_composite refuses negative offsets: crop the part of the object that falls off the canvas.
    left, top = max(0, -x), max(0, -y)
    canvas.alpha_composite(obj.crop((left, top, obj.width, obj.height)), (x + left, y + top))
