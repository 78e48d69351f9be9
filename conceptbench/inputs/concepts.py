"""Concept folders: find them, read their metadata, and load their few training photos safely.

A concept is a folder of 3-10 photos of one subject plus a `concept.yaml` such as

    class: stuffed animal   # the class noun used in prompts ("a photo of sks stuffed animal")
    kind: object            # object | live (picks the prompt list used for evaluation)

Photos come from users, so everything here assumes they may be broken, huge, rotated by EXIF,
transparent or in odd colour modes, and turns every such problem into a ConceptError that names
the file and says what to do.
"""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageOps

from conceptbench.names import check_name, slugify

METADATA_FILE = "concept.yaml"
KINDS = ("object", "live")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")  # GIF: its first frame

# Errors PIL and its codecs raise for unreadable, corrupt or truncated files.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error, IndexError)
# Names written by write_normalised_images, so stale ones from an earlier run can be removed safely.
_NORMALISED_RE = re.compile(r"[0-9]{3,}\.png")


class ConceptError(ValueError):
    """A concept folder or one of its files cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class Concept:
    name: str
    folder: Path
    class_noun: str
    kind: str

    @property
    def class_slug(self) -> str:
        """The class noun as a wildcard-safe name, e.g. 'stuffed animal' -> 'stuffed_animal'."""
        return slugify(self.class_noun)


def _read_metadata(folder: Path) -> tuple[str, str]:
    """Return (class_noun, kind) from folder/concept.yaml, or raise ConceptError explaining the problem."""
    path = folder / METADATA_FILE
    example = "write e.g. 'class: stuffed animal' and 'kind: object' (kind is object or live)"
    if not path.is_file():
        raise ConceptError(f"{folder}: concept folder has no {METADATA_FILE}; create {path} and {example}.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConceptError(f"{path}: not valid YAML ({exc}); {example}.") from exc
    if not isinstance(data, dict):
        raise ConceptError(f"{path}: expected a mapping with keys 'class' and 'kind'; {example}.")
    # Unknown keys are most likely typos ('clas', 'Kind'), which would otherwise be silently ignored.
    unknown = sorted(str(k) for k in data if k not in ("class", "kind"))
    if unknown:
        raise ConceptError(f"{path}: unknown key(s) {unknown}; only 'class' and 'kind' are allowed.")
    class_noun = data.get("class")
    if not isinstance(class_noun, str) or not class_noun.strip():
        # YAML turns unquoted `yes`/`123` into bool/int, hence the hint about quoting.
        raise ConceptError(
            f"{path}: 'class' must be a non-empty text such as 'dog' or 'stuffed animal' "
            f"(got {class_noun!r}); quote it if YAML reads it as a number or boolean."
        )
    try:
        slugify(class_noun)
    except ValueError as exc:
        raise ConceptError(f"{path}: 'class' {class_noun!r} has no letters or digits; use a noun like 'toy'.") from exc
    kind = data.get("kind")
    if kind not in KINDS:
        raise ConceptError(f"{path}: 'kind' must be one of {', '.join(KINDS)} (got {kind!r}); set e.g. 'kind: object'.")
    return class_noun.strip(), kind


def discover_concepts(root: str | Path) -> dict[str, Concept]:
    """Return {name: Concept} for every non-hidden sub-folder of `root`, sorted by name.

    Each sub-folder is one concept, named after the folder, and must hold concept.yaml.
    Files directly in `root` (a README, say) and hidden folders are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConceptError(f"{root}: concepts folder does not exist (or is not a folder); check the path in the config.")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ConceptError(
            f"{root}: no concept sub-folders found; put each concept's photos and {METADATA_FILE} "
            f"in its own sub-folder, e.g. {root / 'my_dog'}."
        )
    concepts = {}
    for folder in folders:
        try:
            check_name(folder.name, "concept")
        except ValueError as exc:
            raise ConceptError(f"{folder}: {exc} Rename the folder.") from exc
        class_noun, kind = _read_metadata(folder)
        concepts[folder.name] = Concept(name=folder.name, folder=folder, class_noun=class_noun, kind=kind)
    return concepts


def list_image_files(folder: str | Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name; hidden files (e.g. macOS '._x.jpg') are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConceptError(f"{folder}: concept image folder does not exist (or is not a folder); check the path.")
    return sorted(
        (p for p in folder.iterdir()
         if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.name,
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent areas become white rather than black or garbage."""
    if img.mode.startswith("I"):
        # 16-bit greyscale PNGs open as I;16/I; PIL's convert would clip them to white, so scale to 8 bit.
        arr = np.asarray(img, dtype=np.float64) / 257.0
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    has_alpha = "A" in img.mode or "a" in img.mode or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


# At most this many pixels per photo: larger ones are refused before decoding (possible decompression bombs).
MAX_PIXELS = 50_000_000
MIN_IMAGES, MAX_IMAGES = 3, 10
# A photo whose shorter side is below resolution / SMALL_PHOTO_FACTOR is mostly interpolation: warn about it.
SMALL_PHOTO_FACTOR = 2


def _open_decoded(path: Path, max_pixels: int, draft: int | None = None) -> Image.Image:
    """Open, check and fully decode one image, EXIF-oriented; any failure -> ConceptError naming `path`.

    `draft` lets JPEG decode at a reduced scale no smaller than draft x draft (fast; enough to check the file).
    """
    bomb_hint = f"downscale the photo (a few megapixels is plenty; the limit is {max_pixels} pixels)"
    try:
        # PIL only warns between its limit and twice its limit; make that an error too.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                # The header gives the size, so refuse huge images before spending memory decoding them.
                width, height = img.size
                if width * height > max_pixels:
                    raise ConceptError(
                        f"{path}: image is {width}x{height} = {width * height} pixels, more than "
                        f"{max_pixels} (possible decompression bomb); {bomb_hint}."
                    )
                if draft:
                    img.draft("RGB", (draft, draft))
                img.load()  # decode fully now so corrupt or truncated data fails here, not later
                return ImageOps.exif_transpose(img)
    except ConceptError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ConceptError(f"{path}: rejected by PIL as a possible decompression bomb ({exc}); {bomb_hint}.") from exc
    except _DECODE_ERRORS as exc:
        raise ConceptError(
            f"{path}: cannot read this image ({type(exc).__name__}: {exc}); it is corrupt, truncated or "
            f"not an image. Re-export it as PNG or JPEG, or remove it from the folder."
        ) from exc


def _load_one(path: Path, resolution: int, max_pixels: int) -> Image.Image:
    """Open, check, orient, convert and square-crop one image; any failure -> ConceptError naming `path`."""
    img = _to_rgb(_open_decoded(path, max_pixels))
    # Crop before resizing: resize(box=...) would let LANCZOS pull in pixels from outside the square.
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return img.resize((resolution, resolution), Image.Resampling.LANCZOS)


def _check_count(folder: Path, files: list[Path], min_images: int, max_images: int) -> None:
    suffixes = " ".join(IMAGE_SUFFIXES)
    if not files:
        raise ConceptError(f"{folder}: no images found (looked for {suffixes}); add {min_images}-{max_images} photos.")
    if len(files) < min_images:
        raise ConceptError(
            f"{folder}: only {len(files)} image(s), need at least {min_images}; add more photos of the concept."
        )
    if len(files) > max_images:
        raise ConceptError(
            f"{folder}: {len(files)} images, at most {max_images} are used per concept; move the extra ones "
            "out of the folder."
        )


def check_concept_images(folder: str | Path, resolution: int, max_pixels: int = MAX_PIXELS) -> list[str]:
    """Read every photo of a concept folder now, as training will; return warnings, raise ConceptError listing
    every unreadable file. Cheap: photos are few and JPEGs decode at reduced scale."""
    folder = Path(folder)
    files = list_image_files(folder)
    _check_count(folder, files, MIN_IMAGES, MAX_IMAGES)
    problems, notes = [], []
    for path in files:
        try:
            img = _open_decoded(path, max_pixels, draft=resolution)
        except ConceptError as exc:
            problems.append(str(exc))
            continue
        if min(img.size) * SMALL_PHOTO_FACTOR < resolution:
            notes.append(f"{path}: the photo is {img.size[0]}x{img.size[1]}, far below the model's {resolution} px "
                         "(it will be upscaled and blurred); use a larger photo if you have one")
    if problems:
        raise ConceptError("\n".join(problems))
    skipped = sorted(p.name for p in folder.iterdir()
                     if p.is_file() and not p.name.startswith(".") and p.name != METADATA_FILE and p not in files)
    if skipped:
        notes.append(f"{folder}: not images, ignored: {', '.join(skipped)} (images are {' '.join(IMAGE_SUFFIXES)})")
    return notes


def load_concept_images(
    folder: str | Path,
    resolution: int,
    min_images: int = MIN_IMAGES,
    max_images: int = MAX_IMAGES,
    max_pixels: int = MAX_PIXELS,
) -> list[Image.Image]:
    """Load a concept's photos as square RGB images of resolution x resolution, in file-name order.

    Note that PIL's own limit (Image.MAX_IMAGE_PIXELS) also applies, so max_pixels above it has no effect.
    """
    if not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    if not 1 <= min_images <= max_images:
        raise ValueError(f"need 1 <= min_images <= max_images, got {min_images} and {max_images}")
    folder = Path(folder)
    files = list_image_files(folder)
    _check_count(folder, files, min_images, max_images)
    return [_load_one(path, resolution, max_pixels) for path in files]


def write_normalised_images(images: list[Image.Image], out_dir: str | Path) -> list[Path]:
    """Write images as out_dir/000.png, 001.png, ...; return the paths written.

    Numbered PNGs left from an earlier, larger run are removed so the folder holds exactly these images.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        path = out_dir / f"{i:03d}.png"
        img.save(path, format="PNG")
        paths.append(path)
    keep = {p.name for p in paths}
    for stale in out_dir.iterdir():
        if stale.is_file() and _NORMALISED_RE.fullmatch(stale.name) and stale.name not in keep:
            stale.unlink()
    return paths
