"""Tests of the pure-torch FID Inception-v3 (conceptbench.scoring.inception); no real weights needed."""

import pickle

import pytest
import torch
from safetensors.torch import save_file

from conceptbench.scoring.inception import (
    FIDInceptionV3,
    build_tiny_inception,
    convert_torch_checkpoint_to_safetensors,
    load_fid_inception,
    save_fid_inception,
)

TINY_SCALE = 1 / 16
TINY_DIM = 128  # 320/16 + 4 * 384/16 + 192/16 output channels of Mixed_7c


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_inception(seed=0)


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(1))


def features(model, x):
    with torch.no_grad():
        return model(x)


def test_tiny_output_shape_and_dim(tiny, images):
    assert tiny.feature_dim == TINY_DIM
    assert not tiny.training
    out = features(tiny, images)
    assert out.shape == (3, TINY_DIM)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # Different images give different features: the network is not collapsed to a constant.
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (48, 80)])
def test_any_input_size_is_resized_to_299(tiny, size):
    out = features(tiny, torch.rand(2, 3, *size))
    assert out.shape == (2, TINY_DIM)


def test_resize_makes_features_independent_of_input_size(tiny):
    # A flat grey image stays flat under bilinear resizing, so 32 px and 64 px inputs must both
    # reach the network as the same 299x299 image and give the same features.
    small = torch.full((1, 3, 32, 32), 0.3)
    large = torch.full((1, 3, 64, 64), 0.3)
    torch.testing.assert_close(features(tiny, small), features(tiny, large), rtol=1e-5, atol=1e-6)


def test_input_range_and_type_are_checked(tiny, images):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        features(tiny, images * 2 - 1)  # [-1, 1] images
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        features(tiny, images * 255)  # [0, 255] images
    with pytest.raises(TypeError, match="float"):
        features(tiny, (images * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="shape"):
        features(tiny, images[:, :1])


def test_fid_specific_pooling():
    model = build_tiny_inception()
    assert model.Mixed_7c.max_pool and not model.Mixed_7b.max_pool
    # count_include_pad=False: averaging a constant map gives the constant, border pixels included.
    from conceptbench.scoring.inception import _avg_pool_same

    torch.testing.assert_close(_avg_pool_same(torch.ones(1, 1, 5, 5)), torch.ones(1, 1, 5, 5))


def test_build_tiny_inception_is_deterministic():
    rng_before = torch.get_rng_state()
    first, second = build_tiny_inception(seed=3), build_tiny_inception(seed=3)
    assert torch.equal(torch.get_rng_state(), rng_before), "must not consume the global RNG"
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = build_tiny_inception(seed=4).state_dict()
    assert not torch.equal(a["Conv2d_1a_3x3.conv.weight"], other["Conv2d_1a_3x3.conv.weight"])


def test_full_scale_matches_pytorch_fid_layout():
    with torch.device("meta"):  # layout only; no memory or init cost
        model = FIDInceptionV3()
    state = model.state_dict()
    assert model.feature_dim == 2048
    # 94 conv+BN units x (conv.weight + bn.weight/bias/running_mean/running_var/num_batches_tracked).
    assert len(state) == 94 * 6
    # torchvision's inception_v3 has 27,161,264 parameters; less AuxLogits (3,326,696) and fc (2,049,000).
    assert sum(p.numel() for p in model.parameters()) == 21_785_568
    assert not any(k.startswith(("fc.", "AuxLogits.")) for k in state)
    expected_shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_1a_3x3.bn.running_mean": (32,),
        "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
        "Mixed_5b.branch1x1.conv.weight": (64, 192, 1, 1),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7b.branch1x1.conv.weight": (320, 1280, 1, 1),
        "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "Mixed_7c.branch_pool.bn.running_var": (192,),
    }
    for key, shape in expected_shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert state["Mixed_7c.branch_pool.bn.num_batches_tracked"].shape == ()
    assert model.Conv2d_1a_3x3.bn.eps == 0.001


@pytest.mark.parametrize("scale", [0.01, 0.1, 0.3])
def test_odd_channel_scales_still_line_up(scale):
    model = build_tiny_inception(channel_scale=scale)
    out = features(model, torch.rand(1, 3, 32, 32))
    assert out.shape == (1, model.feature_dim)


def test_invalid_channel_scale():
    with pytest.raises(ValueError, match="channel_scale"):
        FIDInceptionV3(channel_scale=0)


def test_save_load_round_trip(tiny, images, tmp_path):
    path = save_fid_inception(tiny, tmp_path / "tiny.safetensors")
    loaded = load_fid_inception(path)  # channel_scale comes from the file's metadata
    assert loaded.channel_scale == TINY_SCALE
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    assert torch.equal(features(loaded, images), features(tiny, images))


def test_load_ignores_fc_auxlogits_and_absent_batch_counters(tiny, images, tmp_path):
    # Shaped like a checkpoint converted from pytorch-fid: extra classifier keys, no metadata,
    # and (as in checkpoints older than BatchNorm's counter) no num_batches_tracked.
    state = {k: v for k, v in tiny.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["fc.weight"] = torch.zeros(1008, TINY_DIM)
    state["fc.bias"] = torch.zeros(1008)
    state["AuxLogits.conv0.conv.weight"] = torch.zeros(8, 48, 1, 1)
    path = tmp_path / "converted.safetensors"
    save_file(state, str(path))
    loaded = load_fid_inception(path, channel_scale=TINY_SCALE)
    assert torch.equal(features(loaded, images), features(tiny, images))


def test_load_missing_or_unexpected_key_is_a_clear_error(tiny, tmp_path):
    state = tiny.state_dict()
    missing = dict(state)
    del missing["Mixed_6c.branch7x7_2.conv.weight"]
    path = tmp_path / "missing.safetensors"
    save_file(missing, str(path))
    with pytest.raises(ValueError, match="missing") as info:
        load_fid_inception(path, channel_scale=TINY_SCALE)
    message = str(info.value)
    assert "missing.safetensors" in message and "Mixed_6c.branch7x7_2.conv.weight" in message
    assert "`inception: pytorch-fid`" in message  # the fix: the standard weights, fetched on first use

    extra = dict(state, **{"Mixed_8a.conv.weight": torch.zeros(1)})
    path = tmp_path / "extra.safetensors"
    save_file(extra, str(path))
    with pytest.raises(ValueError, match="unexpected.*Mixed_8a"):
        load_fid_inception(path, channel_scale=TINY_SCALE)


def test_load_with_wrong_channel_scale_is_a_clear_error(tiny, tmp_path):
    path = save_fid_inception(tiny, tmp_path / "tiny.safetensors")
    with pytest.raises(ValueError, match="wrong shape"):
        load_fid_inception(path, channel_scale=1 / 8)


@pytest.mark.parametrize("name", ["weights.pth", "weights.bin", "weights.pt"])
def test_load_refuses_pickles(tiny, tmp_path, name):
    path = tmp_path / name
    torch.save(tiny.state_dict(), path)
    with pytest.raises(ValueError, match="safetensors") as info:
        load_fid_inception(path)
    assert name in str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_fid_inception(tmp_path / "absent.safetensors")


def test_convert_torch_checkpoint(tiny, images, tmp_path):
    pth = tmp_path / "pt_inception.pth"
    torch.save(dict(tiny.state_dict(), **{"fc.weight": torch.zeros(1008, TINY_DIM)}), pth)
    out = convert_torch_checkpoint_to_safetensors(pth, tmp_path / "pt_inception.safetensors")
    loaded = load_fid_inception(out, channel_scale=TINY_SCALE)
    assert torch.equal(features(loaded, images), features(tiny, images))


class _NotATensor:
    pass


def test_convert_refuses_arbitrary_pickled_objects(tmp_path):
    pth = tmp_path / "evil.pth"
    torch.save({"x": _NotATensor()}, pth)
    # weights_only=True: the restricted unpickler refuses to build the class at all.
    with pytest.raises(pickle.UnpicklingError):
        convert_torch_checkpoint_to_safetensors(pth, tmp_path / "out.safetensors")
    torch.save({"x": "not a tensor"}, pth)
    with pytest.raises(ValueError, match="state dict"):
        convert_torch_checkpoint_to_safetensors(pth, tmp_path / "out.safetensors")
