"""The FID Inception-v3 network (pool3 features), in plain torch.

This is the TensorFlow "pt_inception-2015-12-05" graph that FID is defined on, in the layout
that pytorch-fid and torch-fidelity use. It differs from torchvision's Inception-v3 in its
pooling branches: the average pools inside the A, C and first E blocks ignore the zero padding
(count_include_pad=False), and the last E block pools its pool branch with a max pool.

At channel_scale=1.0 the state_dict has exactly the parameter names and shapes of the
pytorch-fid checkpoint (minus its `fc.` classifier), so the real weights, once converted to
safetensors, load with strict=True. No weights ship with this module: `inception: pytorch-fid` fetches and
converts them on first use (scoring/fid_weights.py, with `convert_torch_checkpoint_to_safetensors`), and
`load_fid_inception` loads them. Smaller
channel_scale values give a cheap random network (`build_tiny_inception`) for testing plumbing.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

__all__ = [
    "FIDInceptionV3",
    "load_fid_inception",
    "save_fid_inception",
    "build_tiny_inception",
    "convert_torch_checkpoint_to_safetensors",
    "IGNORED_KEY_PREFIXES",
]

INPUT_SIZE = 299
# Keys of a full pytorch-fid / torchvision checkpoint that the pool3 feature extractor has no use for.
IGNORED_KEY_PREFIXES = ("fc.", "AuxLogits.")
# safetensors metadata key under which save_fid_inception records the width of the network.
_SCALE_METADATA_KEY = "conceptbench.channel_scale"


class _ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm(eps=1e-3, as in the TF graph) + ReLU.

    The attribute names `conv` and `bn` are part of the checkpoint key names.
    """

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    # TF's average pool divides by the number of real pixels, not counting the zero padding.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):
    """35x35 block (Mixed_5b/5c/5d): 1x1, 5x5, double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int, w) -> None:
        super().__init__()
        self.branch1x1 = _ConvBN(in_channels, w(64), kernel_size=1)

        self.branch5x5_1 = _ConvBN(in_channels, w(48), kernel_size=1)
        self.branch5x5_2 = _ConvBN(w(48), w(64), kernel_size=5, padding=2)

        self.branch3x3dbl_1 = _ConvBN(in_channels, w(64), kernel_size=1)
        self.branch3x3dbl_2 = _ConvBN(w(64), w(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(w(96), w(96), kernel_size=3, padding=1)

        self.branch_pool = _ConvBN(in_channels, w(pool_features), kernel_size=1)
        self.out_channels = w(64) + w(64) + w(96) + w(pool_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b5, b3, bp], dim=1)


class _BlockB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a); its pool branch passes the input channels through."""

    def __init__(self, in_channels: int, w) -> None:
        super().__init__()
        self.branch3x3 = _ConvBN(in_channels, w(384), kernel_size=3, stride=2)

        self.branch3x3dbl_1 = _ConvBN(in_channels, w(64), kernel_size=1)
        self.branch3x3dbl_2 = _ConvBN(w(64), w(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(w(96), w(96), kernel_size=3, stride=2)
        self.out_channels = w(384) + w(96) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], dim=1)


class _BlockC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..6e)."""

    def __init__(self, in_channels: int, channels_7x7: int, w) -> None:
        super().__init__()
        c7 = w(channels_7x7)
        self.branch1x1 = _ConvBN(in_channels, w(192), kernel_size=1)

        self.branch7x7_1 = _ConvBN(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = _ConvBN(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = _ConvBN(c7, w(192), kernel_size=(7, 1), padding=(3, 0))

        self.branch7x7dbl_1 = _ConvBN(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _ConvBN(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _ConvBN(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _ConvBN(c7, w(192), kernel_size=(1, 7), padding=(0, 3))

        self.branch_pool = _ConvBN(in_channels, w(192), kernel_size=1)
        self.out_channels = 4 * w(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_3(self.branch7x7dbl_2(bd))
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(bd))
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b7, bd, bp], dim=1)


class _BlockD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a); its pool branch passes the input channels through."""

    def __init__(self, in_channels: int, w) -> None:
        super().__init__()
        self.branch3x3_1 = _ConvBN(in_channels, w(192), kernel_size=1)
        self.branch3x3_2 = _ConvBN(w(192), w(320), kernel_size=3, stride=2)

        self.branch7x7x3_1 = _ConvBN(in_channels, w(192), kernel_size=1)
        self.branch7x7x3_2 = _ConvBN(w(192), w(192), kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(w(192), w(192), kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(w(192), w(192), kernel_size=3, stride=2)
        self.out_channels = w(320) + w(192) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(b7)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], dim=1)


class _BlockE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs (Mixed_7b, Mixed_7c).

    `max_pool=True` is the FID graph's last block (Mixed_7c), which max-pools its pool branch
    where the paper (and torchvision) average-pools; the weights were trained that way.
    """

    def __init__(self, in_channels: int, w, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _ConvBN(in_channels, w(320), kernel_size=1)

        self.branch3x3_1 = _ConvBN(in_channels, w(384), kernel_size=1)
        self.branch3x3_2a = _ConvBN(w(384), w(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(w(384), w(384), kernel_size=(3, 1), padding=(1, 0))

        self.branch3x3dbl_1 = _ConvBN(in_channels, w(448), kernel_size=1)
        self.branch3x3dbl_2 = _ConvBN(w(448), w(384), kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(w(384), w(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(w(384), w(384), kernel_size=(3, 1), padding=(1, 0))

        self.branch_pool = _ConvBN(in_channels, w(192), kernel_size=1)
        self.out_channels = w(320) + 4 * w(384) + w(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], dim=1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_same(x)
        bp = self.branch_pool(pooled)
        return torch.cat([b1, b3, bd, bp], dim=1)


class FIDInceptionV3(nn.Module):
    """FID Inception-v3 up to the 2048-d pool3 features.

    channel_scale multiplies the output width of every convolution (rounded, at least 1); the
    input width of each layer follows from what feeds it, so the concatenations always line up.
    At 1.0 the module is the real network and its state_dict matches the pytorch-fid checkpoint
    (without `fc.`). Call `forward` on float images in [0, 1] of any size.
    """

    def __init__(self, channel_scale: float = 1.0) -> None:
        super().__init__()
        valid = isinstance(channel_scale, (int, float)) and math.isfinite(channel_scale) and channel_scale > 0
        if not valid:
            raise ValueError(f"channel_scale must be a positive finite number, got {channel_scale!r}")
        self.channel_scale = float(channel_scale)

        def w(channels: int) -> int:
            return max(1, int(round(channels * self.channel_scale)))

        self.Conv2d_1a_3x3 = _ConvBN(3, w(32), kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(w(32), w(32), kernel_size=3)
        self.Conv2d_2b_3x3 = _ConvBN(w(32), w(64), kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(w(64), w(80), kernel_size=1)
        self.Conv2d_4a_3x3 = _ConvBN(w(80), w(192), kernel_size=3)

        self.Mixed_5b = _BlockA(w(192), pool_features=32, w=w)
        self.Mixed_5c = _BlockA(self.Mixed_5b.out_channels, pool_features=64, w=w)
        self.Mixed_5d = _BlockA(self.Mixed_5c.out_channels, pool_features=64, w=w)
        self.Mixed_6a = _BlockB(self.Mixed_5d.out_channels, w=w)
        self.Mixed_6b = _BlockC(self.Mixed_6a.out_channels, channels_7x7=128, w=w)
        self.Mixed_6c = _BlockC(self.Mixed_6b.out_channels, channels_7x7=160, w=w)
        self.Mixed_6d = _BlockC(self.Mixed_6c.out_channels, channels_7x7=160, w=w)
        self.Mixed_6e = _BlockC(self.Mixed_6d.out_channels, channels_7x7=192, w=w)
        self.Mixed_7a = _BlockD(self.Mixed_6e.out_channels, w=w)
        self.Mixed_7b = _BlockE(self.Mixed_7a.out_channels, w=w, max_pool=False)
        self.Mixed_7c = _BlockE(self.Mixed_7b.out_channels, w=w, max_pool=True)
        self.feature_dim = self.Mixed_7c.out_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map float images in [0, 1], shape (N, 3, H, W), to (N, feature_dim) float32 pool3 features."""
        _check_images(images)
        weight = self.Conv2d_1a_3x3.conv.weight
        x = images.to(device=weight.device, dtype=weight.dtype)
        # Same order as pytorch-fid: resize in [0, 1], then map to the [-1, 1] the TF graph expects.
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1

        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
            self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c,
        ):
            x = block(x)
        # pool3: global average over the 8x8 grid.
        return x.mean(dim=(2, 3)).float()


# Slack for rounding error in images computed as floats (e.g. x / 255 after arithmetic); it still
# catches the real mistakes, images in [-1, 1] or [0, 255].
_RANGE_TOLERANCE = 1e-3


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        what = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(f"FIDInceptionV3 expects a float tensor of images in [0, 1], got {what}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"FIDInceptionV3 expects images of shape (N, 3, H, W), got {tuple(images.shape)}")
    if images.numel() and images.device.type != "meta":
        low, high = images.min().item(), images.max().item()
        if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
            raise ValueError(
                f"FIDInceptionV3 expects images in [0, 1], got values in [{low:.4g}, {high:.4g}]; "
                "map [-1, 1] images with (x + 1) / 2 and uint8 images with x / 255 first"
            )


def _drop_ignored(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state_dict.items() if not k.startswith(IGNORED_KEY_PREFIXES)}


def _check_state_dict(model: FIDInceptionV3, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Raise a ValueError naming `source` unless `state_dict` fits `model` key for key and shape for shape."""
    expected = model.state_dict()
    # Checkpoints saved before BatchNorm counted its batches lack num_batches_tracked;
    # BatchNorm fills it in on load and eval mode never reads it.
    missing = sorted(k for k in expected.keys() - state_dict.keys() if not k.endswith(".num_batches_tracked"))
    unexpected = sorted(state_dict.keys() - expected.keys())
    wrong_shape = sorted(
        f"{k}: file {tuple(state_dict[k].shape)}, model {tuple(expected[k].shape)}"
        for k in expected.keys() & state_dict.keys()
        if state_dict[k].shape != expected[k].shape
    )
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if items:
            shown = ", ".join(items[:5]) + (f", ... ({len(items) - 5} more)" if len(items) > 5 else "")
            problems.append(f"{len(items)} {label} key(s): {shown}")
    if problems:
        raise ValueError(
            f"{source} is not an FID Inception-v3 checkpoint for channel_scale={model.channel_scale:g} "
            f"({'; '.join(problems)}). Use `inception: pytorch-fid` (the standard weights, fetched and "
            "converted on first use), or pass the channel_scale the file was saved with."
        )


def load_fid_inception(weights_path: str | Path, channel_scale: float | None = None) -> FIDInceptionV3:
    """Build the FID Inception from a .safetensors file, in eval mode with gradients off.

    Keys starting with `fc.` or `AuxLogits.` are dropped; every other key must match the model.
    channel_scale defaults to the one recorded by `save_fid_inception`, else 1.0 (the real network).
    Only safetensors is read, so loading cannot run code hidden in a pickle.
    """
    path = Path(weights_path)
    if path.suffix != ".safetensors":
        raise ValueError(
            f"{path} is not a .safetensors file: only safetensors weights are loaded (a .pth/.bin pickle "
            "can run code when read). Convert it once with "
            "conceptbench.scoring.inception.convert_torch_checkpoint_to_safetensors(pth_path, out_path)."
        )
    if not path.is_file():
        raise FileNotFoundError(f"FID Inception weights not found: {path}")
    if channel_scale is None:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        channel_scale = float(metadata.get(_SCALE_METADATA_KEY, 1.0))

    state_dict = _drop_ignored(load_file(str(path)))
    model = FIDInceptionV3(channel_scale=channel_scale)
    _check_state_dict(model, state_dict, str(path))
    model.load_state_dict(state_dict, strict=True)
    return model.eval().requires_grad_(False)


def save_fid_inception(model: FIDInceptionV3, out_path: str | Path) -> Path:
    """Write `model`'s weights to a .safetensors file that `load_fid_inception` reads back."""
    out_path = Path(out_path)
    if out_path.suffix != ".safetensors":
        raise ValueError(f"{out_path}: FID Inception weights are saved as .safetensors only")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(out_path), metadata={_SCALE_METADATA_KEY: repr(model.channel_scale)})
    return out_path


def build_tiny_inception(seed: int = 0, channel_scale: float = 1 / 16) -> FIDInceptionV3:
    """A narrow FID Inception with random weights, identical for the same seed, in eval mode.

    Random weights prove plumbing only (shapes, batching, file handling, the FID arithmetic):
    the features, and any FID/KID computed from them, are meaningless numbers. Use
    `load_fid_inception` with the real weights for results. The global torch RNG is left untouched.
    """
    # Build without memory or default init (which would draw from the global RNG), then fill every
    # tensor from a private generator so the weights depend on the seed alone.
    with torch.device("meta"):
        model = FIDInceptionV3(channel_scale=channel_scale)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _ConvBN):
                continue
            weight = module.conv.weight
            fan_in = weight[0].numel()
            # He init keeps activations at a sane scale through the ~100 ReLU layers.
            weight.copy_(torch.randn(weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
            bn, n = module.bn, module.bn.num_features
            # Non-trivial BatchNorm parameters and statistics, so a save/load that lost them would show.
            bn.weight.copy_(1 + 0.1 * torch.randn(n, generator=gen))
            bn.bias.copy_(0.1 * torch.randn(n, generator=gen))
            bn.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            bn.running_var.copy_(1 + 0.1 * torch.rand(n, generator=gen))
            bn.num_batches_tracked.zero_()
    return model.eval().requires_grad_(False)


def convert_torch_checkpoint_to_safetensors(pth_path: str | Path, out_path: str | Path) -> Path:
    """Convert the pytorch-fid checkpoint (a pickled state dict, .pth) to a .safetensors file, once.

    The pickle is read with torch.load(weights_only=True), whose restricted unpickler builds
    tensors and plain containers only and refuses anything else. All tensors are kept (fc. too;
    `load_fid_inception` drops it), so the file stays a faithful copy of the checkpoint.
    """
    pth_path, out_path = Path(pth_path), Path(out_path)
    if out_path.suffix != ".safetensors":
        raise ValueError(f"{out_path}: the converted file must end in .safetensors")
    state_dict = torch.load(pth_path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise ValueError(f"{pth_path} does not hold a flat state dict (a mapping of names to tensors)")
    # clone: safetensors refuses tensors that share storage, and views must be made contiguous.
    tensors = {k: v.detach().clone().contiguous() for k, v in state_dict.items()}
    save_file(tensors, str(out_path))
    return out_path
