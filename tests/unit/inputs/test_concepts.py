"""Tests for concept discovery and safe loading of user photos (conceptbench.inputs.concepts)."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conceptbench.inputs.concepts import (
    METADATA_FILE,
    Concept,
    ConceptError,
    discover_concepts,
    list_image_files,
    load_concept_images,
    write_normalised_images,
)


def _solid(path: Path, colour=(10, 200, 30), size=(24, 16), fmt=None) -> Path:
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


def _good_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _solid(folder / f"img{i}.png")
    return folder


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG with a valid signature and IHDR claiming width x height, but no pixel data at all."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


# --- list_image_files --------------------------------------------------------------------------

def test_list_image_files_filters_and_sorts(tmp_path):
    for name in ["b.JPG", "a.png", "c.webp", "d.bmp", "e.jpeg", ".hidden.png", "._mac.jpg", "README.md", METADATA_FILE]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()  # a folder with an image suffix is not an image
    assert [p.name for p in list_image_files(tmp_path)] == ["a.png", "b.JPG", "c.webp", "d.bmp", "e.jpeg"]


def test_list_image_files_missing_folder(tmp_path):
    with pytest.raises(ConceptError, match="does not exist"):
        list_image_files(tmp_path / "nope")


# --- load_concept_images: bad inputs -----------------------------------------------------------

def test_corrupt_png_names_file(tmp_path):
    folder = _good_folder(tmp_path / "c")
    bad = folder / "zz_corrupt.png"
    bad.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ConceptError, match="zz_corrupt.png") as err:
        load_concept_images(folder, 16)
    assert "corrupt" in str(err.value)


def test_png_with_broken_data_names_file(tmp_path):
    folder = _good_folder(tmp_path / "c")
    good = _solid(folder / "zz_broken.png", size=(50, 50)).read_bytes()
    # Keep the signature and IHDR but scramble everything after it.
    (folder / "zz_broken.png").write_bytes(good[:33] + bytes(len(good) - 33))
    with pytest.raises(ConceptError, match="zz_broken.png"):
        load_concept_images(folder, 16)


def test_text_file_with_jpg_suffix_names_file(tmp_path):
    folder = _good_folder(tmp_path / "c")
    (folder / "notes.jpg").write_text("these are not pixels\n")
    with pytest.raises(ConceptError, match="notes.jpg"):
        load_concept_images(folder, 16)


def test_truncated_jpeg_names_file(tmp_path):
    folder = _good_folder(tmp_path / "c")
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    full = folder / "cut.jpg"
    noise.save(full, format="JPEG", quality=90)
    data = full.read_bytes()
    full.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConceptError, match="cut.jpg") as err:
        load_concept_images(folder, 16)
    assert "truncated" in str(err.value)


def test_empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / METADATA_FILE).write_text("class: dog\nkind: live\n")  # metadata alone is not an image
    with pytest.raises(ConceptError, match="no images found") as err:
        load_concept_images(folder, 16)
    assert str(folder) in str(err.value)


def test_too_few_images(tmp_path):
    folder = _good_folder(tmp_path / "few", n=2)
    with pytest.raises(ConceptError, match="only 2 image") as err:
        load_concept_images(folder, 16, min_images=3)
    assert str(folder) in str(err.value)


def test_too_many_images(tmp_path):
    folder = _good_folder(tmp_path / "many", n=4)
    with pytest.raises(ConceptError, match="at most 3") as err:
        load_concept_images(folder, 16, min_images=1, max_images=3)
    assert str(folder) in str(err.value)


def test_decompression_bomb_rejected_from_header(tmp_path):
    folder = _good_folder(tmp_path / "c")
    # The file has no pixel data, so reaching the size error proves the check runs before decoding.
    _png_header_only(folder / "bomb.png", 5000, 4000)
    with pytest.raises(ConceptError, match="bomb.png") as err:
        load_concept_images(folder, 16, max_pixels=1_000_000)
    assert "20000000 pixels" in str(err.value)


def test_real_large_palette_png_rejected(tmp_path):
    folder = _good_folder(tmp_path / "c")
    # A genuine 1-bit image is cheap to make and tiny on disk, yet large in pixels.
    Image.new("1", (3000, 3000)).save(folder / "big.png")
    assert (folder / "big.png").stat().st_size < 10_000
    with pytest.raises(ConceptError, match="big.png"):
        load_concept_images(folder, 16, max_pixels=1_000_000)


@pytest.mark.parametrize("pil_limit", [3000, 1500])  # over PIL's limit (warning) and over twice it (error)
def test_pil_decompression_bomb_becomes_concept_error(tmp_path, monkeypatch, pil_limit):
    folder = _good_folder(tmp_path / "c")
    _solid(folder / "wide.png", size=(80, 50))  # 4000 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pil_limit)
    with pytest.raises(ConceptError, match="wide.png") as err:
        load_concept_images(folder, 16)
    assert "decompression bomb" in str(err.value)


# --- load_concept_images: good inputs ----------------------------------------------------------

def test_exif_orientation_applied(tmp_path):
    folder = _good_folder(tmp_path / "c", n=2)
    # Stored landscape 80x40: red band along the top, blue elsewhere. Orientation 6 means "rotate
    # 90 degrees clockwise to display", so the band must end up along the right edge (portrait).
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :] = (0, 0, 255)
    arr[:12, :] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(folder / "rotated.jpg", format="JPEG", quality=95, exif=exif.tobytes())

    images = load_concept_images(folder, 40)
    out = np.asarray(images[-1]).astype(int)  # "rotated.jpg" sorts after "img*.png"
    assert out.shape == (40, 40, 3)
    assert out[20, 36, 0] > 200 and out[20, 36, 2] < 60  # right edge: red
    assert out[20, 4, 2] > 200 and out[20, 4, 0] < 60  # left edge: blue
    assert out[2, 20, 2] > 200 and out[2, 20, 0] < 60  # top (not the right end): blue, so not unrotated


def test_modes_become_rgb_of_requested_size(tmp_path):
    folder = tmp_path / "modes"
    folder.mkdir()
    rgba = Image.new("RGBA", (30, 20), (255, 0, 0, 255))
    rgba.putpixel((15, 10), (0, 0, 0, 0))
    rgba.save(folder / "a_rgba.png")
    Image.new("L", (20, 30), 128).save(folder / "b_l.png")
    pal = Image.new("P", (20, 20), 0)  # already 20x20, so no resampling blurs the single pixel
    pal.putpalette([0, 255, 0, 9, 9, 9] + [0] * 762)
    pal.putpixel((10, 10), 1)
    pal.save(folder / "c_p.png", transparency=1)
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(folder / "d_cmyk.jpg")
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(folder / "e_16bit.png")

    images = load_concept_images(folder, 20, min_images=1)
    assert [(im.mode, im.size) for im in images] == [("RGB", (20, 20))] * 5
    rgba_out, l_out, p_out, cmyk_out, grey16_out = (np.asarray(im).astype(int) for im in images)
    assert tuple(rgba_out[10, 10]) == (255, 255, 255)  # transparent pixel composited onto white
    assert tuple(rgba_out[0, 0]) == (255, 0, 0)
    assert tuple(l_out[0, 0]) == (128, 128, 128)
    assert tuple(p_out[0, 0]) == (0, 255, 0)
    assert tuple(p_out[10, 10]) == (255, 255, 255)  # transparent palette index -> white
    assert cmyk_out[10, 10, 0] > 200 and cmyk_out[10, 10, 1] < 60  # red survives CMYK->RGB
    assert tuple(grey16_out[0, 0]) == (255, 255, 255)


def test_centre_crop_of_wide_image(tmp_path):
    folder = tmp_path / "crop"
    folder.mkdir()
    arr = np.zeros((20, 60, 3), np.uint8)
    arr[:, 20:40] = 255  # white centre square between black side bands
    Image.fromarray(arr).save(folder / "wide.png")
    (out,) = load_concept_images(folder, 10, min_images=1)
    assert np.asarray(out).min() > 245


def test_write_normalised_images(tmp_path):
    out = tmp_path / "norm" / "c"
    out.mkdir(parents=True)
    (out / "007.png").write_bytes(b"stale")  # left from an earlier run with more images
    (out / "keep.txt").write_text("not ours")
    images = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(3)]
    paths = write_normalised_images(images, out)
    assert [p.name for p in paths] == ["000.png", "001.png", "002.png"]
    assert sorted(p.name for p in out.iterdir()) == ["000.png", "001.png", "002.png", "keep.txt"]
    with Image.open(out / "002.png") as back:
        assert back.format == "PNG" and back.getpixel((0, 0)) == (80, 0, 0)


# --- discover_concepts -------------------------------------------------------------------------

def _concept_dir(root: Path, name: str, meta: str | None = "class: stuffed animal\nkind: object\n") -> Path:
    folder = _good_folder(root / name)
    if meta is not None:
        (folder / METADATA_FILE).write_text(meta)
    return folder


def test_discover_concepts_happy_path(tmp_path):
    _concept_dir(tmp_path, "teddy")
    _concept_dir(tmp_path, "my-dog_2", "class: dog\nkind: live\n")
    (tmp_path / ".cache").mkdir()  # hidden folders and loose files are not concepts
    (tmp_path / "README.md").write_text("photos")
    concepts = discover_concepts(tmp_path)
    assert list(concepts) == ["my-dog_2", "teddy"]
    teddy = concepts["teddy"]
    assert teddy == Concept(name="teddy", folder=tmp_path / "teddy", class_noun="stuffed animal", kind="object")
    assert teddy.class_slug == "stuffed_animal"
    assert concepts["my-dog_2"].kind == "live"


def test_discover_rejects_name_with_space(tmp_path):
    _concept_dir(tmp_path, "my dog")
    with pytest.raises(ConceptError, match="my dog") as err:
        discover_concepts(tmp_path)
    assert "Rename" in str(err.value)


def test_discover_missing_metadata(tmp_path):
    _concept_dir(tmp_path, "dog", meta=None)
    with pytest.raises(ConceptError, match=f"no {METADATA_FILE}") as err:
        discover_concepts(tmp_path)
    assert str(tmp_path / "dog") in str(err.value)


@pytest.mark.parametrize(
    "meta, expected",
    [
        ("class: dog\nkind: animal\n", "'kind' must be one of object, live"),
        ("class: dog\n", "'kind' must be one of"),
        ("kind: live\n", "'class' must be"),
        ("class: 123\nkind: live\n", "quote it"),
        ("class: dog\nkind: live\nclas: cat\n", "unknown key"),
        ("- just\n- a list\n", "expected a mapping"),
        ("class: [dog\nkind: live\n", "not valid YAML"),
        ("class: '!!'\nkind: live\n", "no letters or digits"),
    ],
)
def test_discover_bad_metadata(tmp_path, meta, expected):
    _concept_dir(tmp_path, "dog", meta)
    with pytest.raises(ConceptError, match=expected) as err:
        discover_concepts(tmp_path)
    assert str(tmp_path / "dog" / METADATA_FILE) in str(err.value)


def test_discover_missing_root(tmp_path):
    with pytest.raises(ConceptError, match="does not exist"):
        discover_concepts(tmp_path / "nowhere")


def test_discover_root_without_concepts(tmp_path):
    (tmp_path / "loose.png").write_bytes(b"x")
    with pytest.raises(ConceptError, match="no concept sub-folders") as err:
        discover_concepts(tmp_path)
    assert str(tmp_path) in str(err.value)
