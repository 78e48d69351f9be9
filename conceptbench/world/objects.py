"""The world's objects, drawn as cartoons with dark outlines so that their silhouettes survive 32 px.

Each class has one drawing function that fills an RGBA square with the object facing right, in a `Look`: a body
colour, an optional marking in a second colour, and (for the demo concepts only) an accessory no world object has,
or (for the generated individuals, conceptbench/world/individuals.py) a pattern over the body no world object has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

Colour = tuple[int, int, int]

# Markings a class may wear in the world; the demo concepts may also wear `ACCESSORIES`, which the world never draws.
MARKINGS = {
    "dog": ("none", "spots", "ear"),
    "cat": ("none", "stripes", "socks"),
    "bird": ("none", "wing", "crest"),
    "toy robot": ("none", "panel", "visor"),
    "car": ("none", "stripe", "roof"),
    "teapot": ("none", "band", "dots"),
    "chair": ("none", "cushion", "slats"),
    "boat": ("none", "stripe", "sail"),
}
ACCESSORIES = {"dog": ("collar_patch",), "toy robot": ("belly_stripes",)}
# Patterns painted in the second colour over whatever is drawn in the body colour, on any class; the world never
# draws them, so an individual wearing one is new to a model trained on the world.
PATTERNS = ("diagonal", "checks", "halves", "bands")


@dataclass(frozen=True)
class Look:
    body: Colour
    second: Colour
    marking: str = "none"
    accessory: str | None = None
    pattern: str | None = None


def darker(colour: Colour, factor: float = 0.55) -> Colour:
    return tuple(int(c * factor) for c in colour)


class Pen:
    """Draws in unit coordinates (0..1 of the object's square) with a dark outline around every shape."""

    def __init__(self, image: Image.Image):
        self.draw = ImageDraw.Draw(image)
        self.side = image.width
        self.outline = max(1, round(0.025 * self.side))

    def _box(self, x0, y0, x1, y1):
        s = self.side
        return [round(x0 * s), round(y0 * s), round(x1 * s), round(y1 * s)]

    def _points(self, points):
        return [(round(x * self.side), round(y * self.side)) for x, y in points]

    def ellipse(self, box, fill, outline=True):
        self.draw.ellipse(self._box(*box), fill=fill, outline=darker(fill, 0.35) if outline else None,
                          width=self.outline)

    def rect(self, box, fill, radius=0.0, outline=True):
        self.draw.rounded_rectangle(self._box(*box), radius=round(radius * self.side), fill=fill,
                                    outline=darker(fill, 0.35) if outline else None, width=self.outline)

    def polygon(self, points, fill, outline=True):
        self.draw.polygon(self._points(points), fill=fill, outline=darker(fill, 0.35) if outline else None,
                          width=self.outline)

    def line(self, points, fill, width):
        self.draw.line(self._points(points), fill=fill, width=max(1, round(width * self.side)))


def _eye(pen: Pen, x: float, y: float, r: float, iris: Colour = (20, 20, 20)) -> None:
    pen.ellipse((x - r, y - r, x + r, y + r), (250, 250, 250), outline=False)
    pen.ellipse((x - r / 2, y - r / 2, x + r / 2, y + r / 2), iris, outline=False)


def draw_dog(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    pen.line([(0.22, 0.50), (0.08, 0.32)], darker(body, 0.8), 0.06)  # tail
    for x in (0.24, 0.34, 0.56, 0.66):
        pen.rect((x, 0.60, x + 0.09, 0.88), body)  # legs
    pen.ellipse((0.16, 0.40, 0.78, 0.72), body)
    if look.marking == "spots":
        for x, y in ((0.30, 0.48), (0.50, 0.52), (0.40, 0.60)):
            pen.ellipse((x, y, x + 0.10, y + 0.08), second, outline=False)
    if look.accessory == "collar_patch":
        pen.ellipse((0.32, 0.55, 0.60, 0.70), (245, 245, 245), outline=False)  # belly patch
    pen.ellipse((0.56, 0.16, 0.88, 0.46), body)  # head
    pen.ellipse((0.78, 0.28, 0.96, 0.44), body)  # snout
    pen.ellipse((0.90, 0.29, 0.97, 0.36), (15, 15, 15), outline=False)  # nose
    _eye(pen, 0.75, 0.27, 0.035)
    ear = second if look.marking == "ear" else darker(body, 0.7)
    if look.accessory == "collar_patch":
        ear = (20, 40, 120)
    pen.ellipse((0.57, 0.18, 0.68, 0.46), ear)
    if look.accessory == "collar_patch":
        pen.line([(0.58, 0.47), (0.74, 0.50)], (250, 210, 20), 0.05)  # yellow collar


def draw_cat(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    pen.line([(0.30, 0.86), (0.14, 0.78), (0.10, 0.56), (0.16, 0.40)], darker(body, 0.85), 0.06)  # tail
    pen.ellipse((0.26, 0.44, 0.70, 0.92), body)  # sitting body
    if look.marking == "stripes":
        for y in (0.55, 0.65, 0.75):
            pen.line([(0.32, y), (0.64, y + 0.02)], second, 0.035)
    if look.marking == "socks":
        pen.ellipse((0.36, 0.82, 0.48, 0.93), second, outline=False)
        pen.ellipse((0.52, 0.82, 0.64, 0.93), second, outline=False)
    pen.polygon([(0.44, 0.26), (0.48, 0.08), (0.56, 0.22)], body)  # ears
    pen.polygon([(0.66, 0.22), (0.74, 0.08), (0.78, 0.28)], body)
    pen.ellipse((0.40, 0.14, 0.82, 0.50), body)  # head
    _eye(pen, 0.54, 0.30, 0.04, iris=(60, 150, 60))
    _eye(pen, 0.70, 0.30, 0.04, iris=(60, 150, 60))
    pen.polygon([(0.60, 0.38), (0.64, 0.38), (0.62, 0.41)], (230, 120, 140), outline=False)  # nose


def draw_bird(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    pen.polygon([(0.22, 0.56), (0.04, 0.48), (0.06, 0.68)], darker(body, 0.8))  # tail
    pen.line([(0.42, 0.78), (0.40, 0.92)], (230, 140, 30), 0.025)  # legs
    pen.line([(0.54, 0.78), (0.56, 0.92)], (230, 140, 30), 0.025)
    pen.ellipse((0.18, 0.40, 0.74, 0.82), body)  # body
    pen.ellipse((0.50, 0.18, 0.84, 0.52), body)  # head
    if look.marking == "crest":
        pen.polygon([(0.58, 0.22), (0.62, 0.06), (0.70, 0.20)], second)
    wing = second if look.marking == "wing" else darker(body, 0.75)
    pen.ellipse((0.26, 0.50, 0.58, 0.70), wing)
    pen.polygon([(0.82, 0.30), (0.97, 0.37), (0.82, 0.42)], (240, 160, 30))  # beak
    _eye(pen, 0.70, 0.31, 0.04)


def draw_robot(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    metal, dark = (150, 150, 155), (60, 60, 60)
    pen.rect((0.38, 0.78, 0.46, 0.94), dark)  # legs
    pen.rect((0.54, 0.78, 0.62, 0.94), dark)
    pen.rect((0.20, 0.46, 0.30, 0.70), metal)  # arms
    pen.rect((0.70, 0.46, 0.80, 0.70), metal)
    pen.rect((0.30, 0.42, 0.70, 0.80), body, radius=0.03)  # body
    if look.marking == "panel":
        pen.rect((0.40, 0.52, 0.60, 0.70), second)
    if look.accessory == "belly_stripes":
        pen.rect((0.30, 0.53, 0.70, 0.58), (250, 210, 20), outline=False)
        pen.rect((0.30, 0.64, 0.70, 0.69), (250, 210, 20), outline=False)
    pen.line([(0.50, 0.10), (0.50, 0.22)], dark, 0.02)  # antenna
    pen.ellipse((0.45, 0.05, 0.55, 0.15), (250, 210, 20))
    pen.rect((0.35, 0.20, 0.65, 0.42), darker(body, 0.85), radius=0.03)  # head
    if look.marking == "visor":
        pen.rect((0.37, 0.25, 0.63, 0.34), second)
    _eye(pen, 0.44, 0.29, 0.04)
    _eye(pen, 0.56, 0.29, 0.04)
    pen.rect((0.43, 0.36, 0.57, 0.38), (40, 40, 40), outline=False)  # mouth


def draw_car(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    cabin = second if look.marking == "roof" else body
    pen.polygon([(0.26, 0.50), (0.36, 0.30), (0.66, 0.30), (0.78, 0.50)], cabin)  # cabin
    pen.polygon([(0.32, 0.48), (0.39, 0.34), (0.50, 0.34), (0.50, 0.48)], (170, 215, 240), outline=False)
    pen.polygon([(0.54, 0.48), (0.54, 0.34), (0.64, 0.34), (0.72, 0.48)], (170, 215, 240), outline=False)
    pen.rect((0.06, 0.48, 0.94, 0.72), body, radius=0.06)  # body
    if look.marking == "stripe":
        pen.rect((0.08, 0.57, 0.92, 0.62), second, outline=False)
    pen.ellipse((0.88, 0.52, 0.94, 0.58), (250, 240, 150), outline=False)  # headlight
    for x in (0.16, 0.64):
        pen.ellipse((x, 0.62, x + 0.20, 0.82), (30, 30, 30))  # wheels
        pen.ellipse((x + 0.06, 0.68, x + 0.14, 0.76), (170, 170, 170), outline=False)


def draw_teapot(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    pen.line([(0.24, 0.44), (0.10, 0.46), (0.10, 0.66), (0.24, 0.70)], darker(body, 0.8), 0.05)  # handle
    pen.polygon([(0.70, 0.60), (0.92, 0.34), (0.96, 0.36), (0.78, 0.74)], body)  # spout
    pen.ellipse((0.20, 0.34, 0.80, 0.88), body)  # pot
    if look.marking == "band":
        pen.rect((0.22, 0.56, 0.78, 0.64), second, outline=False)
    if look.marking == "dots":
        for x, y in ((0.34, 0.50), (0.50, 0.66), (0.62, 0.48), (0.40, 0.72)):
            pen.ellipse((x, y, x + 0.07, y + 0.07), second, outline=False)
    pen.ellipse((0.34, 0.28, 0.66, 0.40), darker(body, 0.85))  # lid
    pen.ellipse((0.46, 0.20, 0.54, 0.30), darker(body, 0.7))  # knob


def draw_chair(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    pen.rect((0.26, 0.12, 0.36, 0.92), body)  # back legs and posts
    pen.rect((0.64, 0.12, 0.74, 0.92), body)
    pen.rect((0.26, 0.12, 0.74, 0.26), body)  # top rail
    if look.marking == "slats":
        for x in (0.40, 0.48, 0.56):
            pen.rect((x, 0.26, x + 0.04, 0.54), second)
    pen.rect((0.20, 0.54, 0.80, 0.64), body)  # seat
    if look.marking == "cushion":
        pen.rect((0.22, 0.48, 0.78, 0.56), second, radius=0.03)
    pen.rect((0.20, 0.64, 0.28, 0.92), darker(body, 0.85))  # front legs
    pen.rect((0.72, 0.64, 0.80, 0.92), darker(body, 0.85))


def draw_boat(pen: Pen, look: Look) -> None:
    body, second = look.body, look.second
    pen.line([(0.50, 0.10), (0.50, 0.62)], (110, 70, 35), 0.03)  # mast
    sail = second if look.marking == "sail" else (245, 245, 240)
    pen.polygon([(0.53, 0.12), (0.53, 0.58), (0.84, 0.58)], sail)
    pen.polygon([(0.47, 0.18), (0.47, 0.58), (0.22, 0.58)], sail)
    pen.polygon([(0.08, 0.62), (0.92, 0.62), (0.78, 0.84), (0.22, 0.84)], body)  # hull
    if look.marking == "stripe":
        pen.rect((0.16, 0.68, 0.84, 0.72), second, outline=False)


DRAWERS = {
    "dog": draw_dog, "cat": draw_cat, "bird": draw_bird, "toy robot": draw_robot,
    "car": draw_car, "teapot": draw_teapot, "chair": draw_chair, "boat": draw_boat,
}


def _pattern_mask(pattern: str, side: int) -> np.ndarray:
    """Where a pattern shows the second colour, on a side x side grid; its features are about a sixth of the
    object wide so that they survive 32 px."""
    y, x = np.mgrid[0:side, 0:side] / side
    if pattern == "diagonal":
        return ((x + y) * 6).astype(int) % 2 == 1
    if pattern == "checks":
        return ((x * 6).astype(int) + (y * 6).astype(int)) % 2 == 1
    if pattern == "halves":
        return x >= 0.5
    if pattern == "bands":
        return (y * 8).astype(int) % 2 == 1
    raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")


def _paint_pattern(image: Image.Image, look: Look) -> Image.Image:
    # Only pixels in exactly the body colour change, so outlines, eyes and markings keep theirs.
    pixels = np.array(image)
    body = np.all(pixels[..., :3] == look.body, axis=-1) & (pixels[..., 3] > 0)
    pixels[body & _pattern_mask(look.pattern, image.width), :3] = look.second
    return Image.fromarray(pixels, "RGBA")


def draw_object(class_noun: str, look: Look, side: int) -> Image.Image:
    """The object on a transparent square of `side` pixels, facing right."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    DRAWERS[class_noun](Pen(image), look)
    return _paint_pattern(image, look) if look.pattern else image


def draw_holder(side: int, rng) -> Image.Image:
    """Elmo: a red furry puppet with big eyes and an orange nose, arms reaching to the right (to what it holds)."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    pen = Pen(image)
    red = (int(rng.integers(200, 226)), int(rng.integers(20, 45)), int(rng.integers(25, 45)))
    pen.rect((0.18, 0.46, 0.62, 0.98), red, radius=0.12)  # body
    pen.line([(0.55, 0.62), (0.90, 0.58)], red, 0.10)  # arms towards the held object
    pen.line([(0.55, 0.78), (0.90, 0.74)], red, 0.10)
    pen.ellipse((0.10, 0.08, 0.70, 0.60), red)  # head
    _eye(pen, 0.32, 0.22, 0.08)
    _eye(pen, 0.50, 0.22, 0.08)
    pen.ellipse((0.34, 0.30, 0.50, 0.44), (245, 140, 30))  # nose
    pen.rect((0.26, 0.46, 0.56, 0.52), (40, 10, 10), radius=0.03, outline=False)  # mouth
    return image
