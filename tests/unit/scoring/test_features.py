"""How images reach the extractors: DINO as DINO's own evaluation (resize to size / 0.875, centre crop), the world's
DINO on whole images, as it was trained."""

import numpy as np
import pytest
from PIL import Image

from conceptbench.diffusion.sources import BUILTIN_WORLD
from conceptbench.scoring.extractors import Extractor, build_tiny_extractor


def _photo_and_framed_copy():
    """A random 37 x 56 photo (DINO's resize of a 32-pixel model leaves it as it is) and a copy whose frame outside
    the central 32 x 32 crop is painted over: 2 rows at the top and bottom, 12 columns left and right."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 56, 3), dtype=np.uint8)
    framed = pixels.copy()
    framed[:2], framed[-3:], framed[:, :12], framed[:, -12:] = 255, 255, 255, 255
    return Image.fromarray(pixels), Image.fromarray(framed)


@pytest.fixture(scope="module")
def tiny_dino(tmp_path_factory):
    return Extractor("dino", build_tiny_extractor("dino", tmp_path_factory.mktemp("dino")))


def test_dino_sees_only_the_centre_crop_of_its_evaluation_transform(tiny_dino):
    assert tiny_dino.size == 32
    assert tiny_dino.preprocessing.startswith("shorter side bicubic-resized to 37, centre crop 32x32")
    photo, framed = _photo_and_framed_copy()
    a, b = tiny_dino.embed_images([photo, framed])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The frame is in the image: a change inside the crop does change the features.
    inside = np.asarray(photo).copy()
    inside[15:20, 25:30] = 0
    assert not np.allclose(a, tiny_dino.embed_images([Image.fromarray(inside)])[0], atol=1e-4)


def test_the_world_dino_sees_the_whole_image():
    world = Extractor("dino", BUILTIN_WORLD)
    assert world.preprocessing.startswith(f"shorter side bicubic-resized to {world.size}, centre crop")
    photo, framed = _photo_and_framed_copy()
    a, b = world.embed_images([photo, framed])
    assert not np.allclose(a, b, atol=1e-4)


def test_an_image_set_that_lost_an_image_is_named(tmp_path):
    from PIL import Image

    from conceptbench.scoring.extractors import load_image_set

    folder = tmp_path / "images" / "blue_dog" / "lora" / "plain"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i:03d}.png")
    assert len(load_image_set(folder, expected=3)) == 3
    (folder / "001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"has 2 images, not the 3 \(000.png to 002.png\).*delete .*lora and"):
        load_image_set(folder, expected=3, made_by=folder.parent)
