"""Feature extractors: CLIP (image and text), DINO and the FID Inception network, behind one small interface.

An extractor is named in config by its kind (`clip`, `dino`, `inception`) and a source: a hub id, a local folder
(`from_pretrained`) or, for Inception, `pytorch-fid` (the standard FID weights, fetched on first use:
scoring/fid_weights.py) or a local `.safetensors` file of them. `builtin:tiny` builds a
tiny random-weight extractor: it proves the plumbing only and its numbers mean nothing, which every output that
uses one says (the `random_weights` flag below travels into the feature files' metadata).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from conceptbench.diffusion.sources import BUILTIN_WORLD, PYTORCH_FID, resolve
from conceptbench.scoring.oracle import attribute_slices

EXTRACTORS = ("clip", "dino", "inception", "oracle")
# Normalisation constants published with the models (CLIP: OpenAI; DINO: ImageNet).
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
INCEPTION_WEIGHTS = "inception.safetensors"


def build_tiny_extractor(kind: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny random-weight extractor of `kind` into `out_dir` (loadable by `load_extractor`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if kind == "clip":
        from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

        from conceptbench.diffusion.tokenizers import write_tiny_tokenizer

        write_tiny_tokenizer(out_dir)
        tokenizer = CLIPTokenizer.from_pretrained(out_dir, model_max_length=77)
        config = CLIPConfig(
            text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                               image_size=32, patch_size=8),
            projection_dim=32,
        )
        CLIPModel(config).save_pretrained(out_dir, safe_serialization=True)
    elif kind == "dino":
        from transformers import ViTConfig, ViTModel

        config = ViTConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8)
        ViTModel(config, add_pooling_layer=False).save_pretrained(out_dir, safe_serialization=True)
    elif kind == "inception":
        from conceptbench.scoring.inception import build_tiny_inception, save_fid_inception

        save_fid_inception(build_tiny_inception(seed=seed), out_dir / INCEPTION_WEIGHTS)
    else:
        raise ValueError(f"unknown extractor {kind!r}; known: {', '.join(EXTRACTORS)}")
    (out_dir / "RANDOM_WEIGHTS.txt").write_text("Random weights from builtin:tiny: plumbing only, numbers mean nothing.\n")
    return out_dir


# DINO's evaluation transform (its k-NN and linear evaluations, and DreamBench's DINO score): shorter side
# resized to size / 0.875 (256 for 224), then the central size x size crop.
DINO_CROP_FRACTION = 0.875


def _resize_center_crop(image: Image.Image, size: int, crop_fraction: float = 1.0) -> Image.Image:
    image = image.convert("RGB")
    scale = round(size / crop_fraction) / min(image.size)
    resized = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                           Image.BICUBIC)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


def _to_tensor(images, size: int | None, mean=None, std=None, crop_fraction: float = 1.0) -> torch.Tensor:
    if size is not None:
        images = [_resize_center_crop(image, size, crop_fraction) for image in images]
    array = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0 for image in images])
    tensor = torch.from_numpy(array).permute(0, 3, 1, 2)
    if mean is not None:
        tensor = (tensor - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return tensor


def _projected(output) -> torch.Tensor:
    # transformers 5 returns an output object whose pooler_output is the projected embedding; 4.x a tensor.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _per_attribute_softmax(logits: torch.Tensor, labels: list[str]) -> torch.Tensor:
    return torch.cat([logits[:, part].softmax(dim=1) for part in attribute_slices(labels).values()], dim=1)


class Extractor:
    """Embeds images (and, for CLIP, text) into float32 numpy arrays of shape (n, dim)."""

    def __init__(self, kind: str, source: str, device: str = "cpu"):
        self.kind, self.source, self.device = kind, str(source), device
        self.labels: list[str] | None = None  # the oracle's "attribute=value" per feature column
        # Real DINO models are evaluated as DINO's authors do; the world's DINO was trained on whole images.
        self.crop_fraction = DINO_CROP_FRACTION if kind == "dino" and self.source != BUILTIN_WORLD else 1.0
        self.source = resolve(self.source, kind)
        path = Path(self.source)
        self.random_weights = (path / "RANDOM_WEIGHTS.txt").is_file() if path.is_dir() else False
        if kind == "clip":
            from transformers import CLIPModel, CLIPTokenizer

            self.model = CLIPModel.from_pretrained(self.source, use_safetensors=True)
            self.tokenizer = CLIPTokenizer.from_pretrained(self.source)
            self.size = self.model.config.vision_config.image_size
        elif kind == "dino":
            from transformers import ViTModel

            self.model = ViTModel.from_pretrained(self.source, use_safetensors=True, add_pooling_layer=False)
            self.size = self.model.config.image_size
        elif kind == "inception":
            from conceptbench.scoring.fid_weights import fid_inception_weights
            from conceptbench.scoring.inception import load_fid_inception

            if self.source == PYTORCH_FID:  # fetched, checked and converted on first use, then cached
                weights = fid_inception_weights()
            else:
                weights = path / INCEPTION_WEIGHTS if path.is_dir() else path
            if not weights.is_file():
                raise FileNotFoundError(
                    f"extractors.inception: {weights} not found. Use pytorch-fid (the standard FID weights, "
                    "downloaded on first use), a .safetensors file of FID Inception weights, or builtin:tiny")
            self.model = load_fid_inception(weights)
        elif kind == "oracle":
            from transformers import ResNetForImageClassification

            self.model = ResNetForImageClassification.from_pretrained(self.source, use_safetensors=True)
            self.size = self.model.config.image_size
            self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        else:
            raise ValueError(f"unknown extractor {kind!r}; known: {', '.join(EXTRACTORS)}")
        self.model.eval().to(device)
        # How images reach the network, recorded in every feature file: features compare only under one convention.
        if kind == "inception":
            self.preprocessing = "RGB in [0, 1]; bilinear resize to 299 inside the network (pytorch-fid's convention)"
        else:
            norm = "CLIP" if kind == "clip" else "ImageNet"
            resized = round(self.size / self.crop_fraction)
            self.preprocessing = (f"shorter side bicubic-resized to {resized}, centre crop {self.size}x{self.size}, "
                                  f"{norm} mean/std")

    @torch.no_grad()
    def embed_images(self, images: list[Image.Image], batch_size: int = 32) -> np.ndarray:
        outputs = []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            if self.kind == "clip":
                pixels = _to_tensor(chunk, self.size, CLIP_MEAN, CLIP_STD).to(self.device)
                out = _projected(self.model.get_image_features(pixel_values=pixels))
            elif self.kind == "dino":
                pixels = _to_tensor(chunk, self.size, IMAGENET_MEAN, IMAGENET_STD, self.crop_fraction).to(self.device)
                out = self.model(pixel_values=pixels).last_hidden_state[:, 0]  # the CLS token, as DreamBench
            elif self.kind == "oracle":
                pixels = _to_tensor(chunk, self.size, IMAGENET_MEAN, IMAGENET_STD).to(self.device)
                out = _per_attribute_softmax(self.model(pixel_values=pixels).logits, self.labels)
            else:
                out = self.model(_to_tensor(chunk, None).to(self.device))  # resizes to 299 itself
            outputs.append(out.float().cpu().numpy())
        return np.concatenate(outputs)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if self.kind != "clip":
            raise ValueError(f"extractor {self.kind!r} embeds images only")
        tokens = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(self.device)
        out = _projected(self.model.get_text_features(input_ids=tokens.input_ids,
                                                      attention_mask=tokens.attention_mask))
        return out.float().cpu().numpy()


def load_image_set(folder: str | Path, expected: int | None = None, made_by: str | Path | None = None
                   ) -> list[Image.Image]:
    """The images of a generated set (000.png, 001.png, ...); with `expected`, exactly that many, in order: a set
    that lost an image would be embedded, and scored, at another n than its peers. `made_by`: the output folder of
    the job that made the set, for the message."""
    paths = sorted(Path(folder).glob("*.png"))
    if not paths:
        raise FileNotFoundError(f"image set {folder} has no PNG images; re-run the rule that generates it")
    if expected is not None and [p.name for p in paths] != [f"{i:03d}.png" for i in range(expected)]:
        raise FileNotFoundError(f"image set {folder} has {len(paths)} images, not the {expected} (000.png to "
                                f"{expected - 1:03d}.png) it was generated with: delete {made_by or folder} and "
                                "re-run snakemake to regenerate it")
    return [Image.open(p).convert("RGB") for p in paths]
