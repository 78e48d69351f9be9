"""Image grids: the first image of every set of one concept, rows of methods, columns of prompts."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

GRID_GAP = 4  # pixels between cells and around the edge
GRID_LABEL_WIDTH = 120  # width of the row-label column
GRID_TITLE_LINES = 3  # column titles are wrapped to at most this many lines, then truncated
GRID_FONT_SIZE = 11
_LINE_HEIGHT = GRID_FONT_SIZE + 3


def grid_size(n_rows: int, n_cols: int, thumb: int = 96, footer: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of the picture image_grid draws for this many rows and columns."""
    width = GRID_LABEL_WIDTH + n_cols * (thumb + GRID_GAP) + GRID_GAP
    height = GRID_TITLE_LINES * _LINE_HEIGHT + 2 * GRID_GAP + n_rows * (thumb + GRID_GAP)
    return width, height + (_LINE_HEIGHT + GRID_GAP if footer else 0)


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=GRID_FONT_SIZE)
    except (TypeError, OSError):  # Pillow built without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, font, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap by pixel width; the last line is cut with '...' when the text does not fit."""
    lines: list[str] = []
    current = ""
    for word in _split_long_words(text.split(), font, max_width):
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= max_width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        base = lines[-1]
        while base and font.getlength(base + "...") > max_width:
            base = base[:-1]
        lines[-1] = base.rstrip() + "..."
    return lines


def _split_long_words(words: list[str], font, max_width: int) -> list[str]:
    """Break words wider than a line (method names like 'textual_inversion_sdxl') into pieces that fit."""
    pieces = []
    for word in words:
        while font.getlength(word) > max_width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > max_width:
                cut -= 1
            # Prefer breaking just after a '_' or '-' inside the piece that fits.
            soft = max(word.rfind("_", 0, cut), word.rfind("-", 0, cut))
            if soft > 0:
                cut = soft + 1
            pieces.append(word[:cut])
            word = word[cut:]
        pieces.append(word)
    return pieces


def image_grid(
    rows: list[tuple[str, list[Path | None]]], column_titles: list[str], out_path: Path, thumb: int = 96,
    footer: str | None = None,
) -> None:
    """Write a PNG grid: one row per (label, images) with the label at left, column titles on top.

    Each image is shrunk to fit a thumb x thumb cell (aspect kept, centred); None leaves the cell
    empty (e.g. a set that failed to generate). Long titles are wrapped and then truncated. A `footer`
    (where the images come from) is written under the grid.
    """
    if not rows:
        raise ValueError("image_grid needs at least one row")
    n_cols = len(column_titles)
    for label, paths in rows:
        if len(paths) != n_cols:
            raise ValueError(f"row {label!r} has {len(paths)} images but there are {n_cols} column titles")

    width, height = grid_size(len(rows), n_cols, thumb, footer=bool(footer))
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font()
    top = GRID_TITLE_LINES * _LINE_HEIGHT + 2 * GRID_GAP

    for c, title in enumerate(column_titles):
        x0 = GRID_LABEL_WIDTH + GRID_GAP + c * (thumb + GRID_GAP)
        for i, line in enumerate(_wrap(str(title), font, thumb - GRID_GAP, GRID_TITLE_LINES)):
            draw.text((x0, GRID_GAP + i * _LINE_HEIGHT), line, fill="black", font=font)

    max_label_lines = max(1, thumb // _LINE_HEIGHT)
    for r, (label, paths) in enumerate(rows):
        y0 = top + r * (thumb + GRID_GAP)
        lines = _wrap(str(label), font, GRID_LABEL_WIDTH - 2 * GRID_GAP, max_label_lines)
        y_text = y0 + (thumb - len(lines) * _LINE_HEIGHT) // 2  # vertically centred on the row
        for i, line in enumerate(lines):
            draw.text((GRID_GAP, y_text + i * _LINE_HEIGHT), line, fill="black", font=font)
        for c, path in enumerate(paths):
            x0 = GRID_LABEL_WIDTH + GRID_GAP + c * (thumb + GRID_GAP)
            if path is None:
                draw.rectangle([x0, y0, x0 + thumb - 1, y0 + thumb - 1], outline=(200, 200, 200), fill=(245, 245, 245))
                continue
            with Image.open(path) as im:
                small = ImageOps.contain(im.convert("RGB"), (thumb, thumb))
            canvas.paste(small, (x0 + (thumb - small.width) // 2, y0 + (thumb - small.height) // 2))
    if footer:
        draw.text((GRID_GAP, height - _LINE_HEIGHT - GRID_GAP), footer, fill=(90, 90, 90), font=font)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_path, format="PNG")
