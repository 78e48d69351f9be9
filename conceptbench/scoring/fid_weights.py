"""`extractors.inception: pytorch-fid`: the standard FID Inception weights, fetched on first use, checked, converted.

pytorch-fid publishes the weights FID is defined on (TensorFlow's inception-2015-12-05, ported to torch) as a pickled
state dict. The first job that needs them downloads that file into torch's hub cache (`torch.hub.get_dir()`, i.e.
$TORCH_HOME/hub/checkpoints, ~/.cache/torch/hub/checkpoints by default: where pytorch-fid keeps the same file, so a
copy it fetched is reused), checks its size and sha256 against the values pinned here, reads it with
`torch.load(weights_only=True)` (tensors and plain containers only: no code in the file can run) and caches the
safetensors conversion beside it. Every later job loads only the safetensors file, as a hub extractor loads its
cached download.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
FILE_NAME = "pt_inception-2015-12-05-6726825d.pth"
# Pinned from public sources, not from a download here (no machine of this project could reach the file): the
# sha256 that genforce-derived code pins for this very URL (e.g. snap-research/discoscene, models/inception_model.py)
# and that other projects pin for the same file and for torch-fidelity's copy of it; it begins with the file name's
# 6726825d, which torch.hub's naming takes from the sha256. The size (95,628,359 bytes) is what those projects
# record for it. If the published file ever differs, the check refuses it, naming both digests.
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
SIZE = 95_628_359


class FidWeightsError(RuntimeError):
    """The FID Inception weights could not be fetched, or are not the published ones."""


def cache_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def fid_inception_weights(log=print, sha256: str = SHA256, size: int = SIZE) -> Path:
    """The path of the converted FID Inception weights (.safetensors), fetching and converting them the first time.

    `sha256` and `size`: what the downloaded file must be (the pinned values; tests pass those of a stand-in)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    pth = folder / FILE_NAME
    converted = pth.with_suffix(".safetensors")
    if converted.is_file():
        return converted
    # One job fetches and converts; the others wait and then find the result.
    with open(folder / f"{FILE_NAME}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if converted.is_file():
            return converted
        if not pth.is_file():
            _download(pth, log)
        _verify(pth, sha256, size)
        from conceptbench.scoring.inception import convert_torch_checkpoint_to_safetensors

        partial = converted.with_name(converted.name + ".partial.safetensors")
        convert_torch_checkpoint_to_safetensors(pth, partial)
        os.replace(partial, converted)  # whole or absent: a job killed mid-way leaves no half file to load
        log(f"FID Inception weights {pth} (sha256 {sha256[:12]}...) converted to {converted}")
    return converted


def _download(pth: Path, log) -> None:
    import torch.hub

    log(f"downloading the FID Inception weights {URL} -> {pth}")
    try:
        torch.hub.download_url_to_file(URL, str(pth), progress=False)  # via a temporary file: no partial pth
    except Exception as exc:  # noqa: BLE001 (URLError, HTTPError, OSError, timeouts alike)
        raise FidWeightsError(
            f"cannot download the FID Inception weights ({URL}: {exc}). Download them yourself where this job looks "
            f"for them (curl -L -o {pth} {URL}) and run again, or give extractors.inception a local .safetensors "
            "file") from None


def _verify(pth: Path, sha256: str, size: int) -> None:
    fix = (f"delete {pth} and run again to download it anew ({URL}), or give extractors.inception a local "
           ".safetensors file of weights you trust")
    actual_size = pth.stat().st_size
    if actual_size != size:
        raise FidWeightsError(f"{pth} is {actual_size:,} bytes, not the {size:,} of pytorch-fid's published FID "
                              f"Inception weights (a cut-off download, or another file): {fix}")
    digest = hashlib.sha256()
    with open(pth, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise FidWeightsError(f"{pth} has sha256 {digest.hexdigest()}, not the {sha256} of pytorch-fid's published "
                              f"FID Inception weights, so it is not read: {fix}")
