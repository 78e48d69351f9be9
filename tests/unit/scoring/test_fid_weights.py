"""`extractors.inception: pytorch-fid` without a network: a stand-in of the published file's layout (a pickled state
dict of the full-size FID Inception with its 1008-class `fc`) plays the download; the pinned digest is the real one
unless a test passes the stand-in's."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from conceptbench.scoring import fid_weights
from conceptbench.scoring.extractors import Extractor
from conceptbench.scoring.fid_weights import FILE_NAME, FidWeightsError, fid_inception_weights
from conceptbench.scoring.inception import FIDInceptionV3


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """(path, sha256, size, model) of a file laid out as pytorch-fid's pt_inception-2015-12-05-6726825d.pth."""
    torch.manual_seed(0)
    model = FIDInceptionV3().eval()
    state = dict(model.state_dict(), **{"fc.weight": torch.randn(1008, 2048), "fc.bias": torch.randn(1008)})
    path = tmp_path_factory.mktemp("published") / FILE_NAME
    torch.save(state, path)
    data = path.read_bytes()
    return path, hashlib.sha256(data).hexdigest(), len(data), model


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """torch's hub cache in tmp_path, and a download that fails the test if anything asks for one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_download(url, dst, *args, **kwargs):
        raise AssertionError(f"downloaded {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def test_a_file_already_in_the_cache_is_checked_converted_and_used(cache, stand_in):
    path, sha256, size, model = stand_in
    (cache / FILE_NAME).write_bytes(path.read_bytes())  # e.g. fetched by pytorch-fid itself
    converted = fid_inception_weights(log=lambda m: None, sha256=sha256, size=size)
    assert converted == cache / "pt_inception-2015-12-05-6726825d.safetensors" and converted.is_file()
    assert fid_inception_weights(sha256="0" * 64, size=1) == converted  # later jobs load the cached conversion

    extractor = Extractor("inception", "pytorch-fid")  # the config's `inception: pytorch-fid`
    image = Image.new("RGB", (64, 64), (200, 30, 90))
    with torch.no_grad():
        direct = model(torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None])
    assert np.allclose(extractor.embed_images([image]), direct.numpy(), atol=1e-5)


def test_a_file_with_another_hash_is_refused_and_not_read(cache, stand_in):
    path, _, size, _ = stand_in
    (cache / FILE_NAME).write_bytes(path.read_bytes())
    with pytest.raises(FidWeightsError) as info:
        fid_inception_weights(size=size)  # the pinned sha256, which the stand-in does not have
    message = str(info.value)
    assert str(cache / FILE_NAME) in message and fid_weights.SHA256 in message
    assert f"delete {cache / FILE_NAME} and run again" in message
    assert not list(cache.glob("*.safetensors"))  # nothing converted


def test_a_cut_off_file_is_refused_by_its_size(cache, stand_in):
    path, sha256, size, _ = stand_in
    (cache / FILE_NAME).write_bytes(path.read_bytes()[: size // 2])
    with pytest.raises(FidWeightsError, match=f"is {size // 2:,} bytes, not the {size:,}"):
        fid_inception_weights(sha256=sha256, size=size)


def test_the_published_file_is_downloaded_on_first_use(cache, stand_in, monkeypatch):
    path, sha256, size, _ = stand_in
    asked = []

    def download(url, dst, *args, **kwargs):
        asked.append(url)
        with open(dst, "wb") as out:
            out.write(path.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    said = []
    converted = fid_inception_weights(log=said.append, sha256=sha256, size=size)
    assert asked == [fid_weights.URL] and converted.is_file()
    assert said[0].startswith(f"downloading the FID Inception weights {fid_weights.URL}")


def test_no_network_says_where_to_put_the_file(cache, monkeypatch):
    def offline(url, dst, *args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FidWeightsError) as info:
        fid_inception_weights(log=lambda m: None)
    message = str(info.value)
    assert "name resolution" in message and f"curl -L -o {cache / FILE_NAME} {fid_weights.URL}" in message


def test_the_pinned_digest_is_of_the_file_it_names():
    # torch.hub names files by the first 8 hex digits of their sha256: the pin must agree with the name.
    assert fid_weights.SHA256.startswith(FILE_NAME.rsplit("-", 1)[1].removesuffix(".pth"))
    assert len(fid_weights.SHA256) == 64 and fid_weights.URL.endswith("/" + FILE_NAME)
