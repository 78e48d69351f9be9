"""The world's image encoders, pretrained on world data, each saved where the existing extractor code loads it.

- `clip`: a CLIPModel (image and text towers) trained contrastively on world images and their captions.
- `dino`: a ViTModel whose CLS token is trained to recognise an individual (same class, colour and markings) across
  contexts, renderings and poses: DINO's role in DreamBench (subject fidelity), learnt with the world's labels.
- `inception`: the FID Inception-v3 architecture (narrow), trained to classify class, context, rendering, holding,
  colour and marking; its pool3 features serve FID and KID.
- `oracle`: a small ResNet classifier of the oracle attributes (class, context, rendering, holding), the judge of
  the ground-truth metrics. It is trained on world images and on their round trip through the world VAE, so the
  softness of decoded images does not fool it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from conceptbench.scoring.extractors import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, INCEPTION_WEIGHTS
from conceptbench.world import vocabulary as V
from conceptbench.world.dataset import WorldData, make_identity_pairs
from conceptbench.world.objects import MARKINGS
from conceptbench.world_models.fitting import fit, images_to_unit

Log = Callable[[str], None]


def normalise(unit: torch.Tensor, mean, std) -> torch.Tensor:
    return (unit - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def identity_labels(data: WorldData) -> dict[str, np.ndarray]:
    """Colour and marking of every scene: what tells individuals of one class apart."""
    colours = list(V.COLOURS)
    return {
        "colour": np.array([colours.index(s.colour) for s in data.scenes], dtype=np.int64),
        "marking": np.array([MARKINGS[s.class_noun].index(s.look.marking) for s in data.scenes], dtype=np.int64),
    }


def head_sizes(names) -> dict[str, int]:
    sizes = {name: len(labels) for name, labels in V.ATTRIBUTES.items()}
    sizes.update(colour=len(V.COLOURS), marking=max(len(m) for m in MARKINGS.values()))
    return {name: sizes[name] for name in names}


def multi_head_loss(logits: torch.Tensor, labels: dict[str, torch.Tensor], heads: dict[str, int]) -> torch.Tensor:
    """Sum of one cross-entropy per head; `logits` holds the heads side by side in `heads` order."""
    loss, start = 0.0, 0
    for name, size in heads.items():
        loss = loss + F.cross_entropy(logits[:, start:start + size], labels[name])
        start += size
    return loss


def _labels_tensor(data: WorldData, names) -> dict[str, torch.Tensor]:
    everything = {**data.labels, **identity_labels(data)}
    return {name: torch.from_numpy(everything[name]) for name in names}


# ---- CLIP -------------------------------------------------------------------------------------------------------


def train_clip(data: WorldData, tokenizer_dir: Path, out_dir: Path, *, steps: int, batch_size: int, lr: float,
               seed: int, log: Log) -> dict:
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    from conceptbench.world_models.tokenizer import write_world_tokenizer

    write_world_tokenizer(out_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    size = data.images.shape[1]
    model = CLIPModel(CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                           image_size=size, patch_size=4),
        projection_dim=64,
    ))
    pixels = normalise(images_to_unit(data.images), CLIP_MEAN, CLIP_STD)
    tokens = tokenizer(data.captions, padding=True, return_tensors="pt")
    caption_ids = torch.from_numpy(np.unique(np.array(data.captions), return_inverse=True)[1].reshape(-1))

    def loss_fn(step, generator):
        idx = torch.randint(len(pixels), (batch_size,), generator=generator)
        out = model(input_ids=tokens.input_ids[idx], attention_mask=tokens.attention_mask[idx],
                    pixel_values=pixels[idx])
        # Identical captions in a batch are all positives of each other (the world repeats captions often).
        same = (caption_ids[idx][:, None] == caption_ids[idx][None, :]).float()
        targets = same / same.sum(dim=1, keepdim=True)
        logits = out.logits_per_image
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))

    model.train()
    stats = fit(loss_fn, list(model.parameters()), steps=steps, lr=lr, seed=seed, log=log, what="clip")
    model.eval().save_pretrained(out_dir, safe_serialization=True)
    return stats


# ---- DINO's role: an identity encoder ---------------------------------------------------------------------------


def train_dino(n_pairs: int, size: int, out_dir: Path, *, steps: int, batch_size: int, lr: float, seed: int,
               workers: int, log: Log) -> dict:
    from transformers import ViTConfig, ViTModel

    first, second = make_identity_pairs(n_pairs, seed, size, workers)
    views = [normalise(images_to_unit(a), IMAGENET_MEAN, IMAGENET_STD) for a in (first, second)]
    torch.manual_seed(seed)
    model = ViTModel(ViTConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                               image_size=size, patch_size=4), add_pooling_layer=False)
    head = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 64))

    def loss_fn(step, generator):
        idx = torch.randint(n_pairs, (batch_size,), generator=generator)
        both = torch.cat([views[0][idx], views[1][idx]])
        z = F.normalize(head(model(pixel_values=both).last_hidden_state[:, 0]), dim=1)
        sims = z @ z.T / 0.1
        sims.fill_diagonal_(float("-inf"))
        partner = torch.cat([torch.arange(batch_size) + batch_size, torch.arange(batch_size)])
        return F.cross_entropy(sims, partner)  # each view must pick the other view of its individual

    model.train()
    stats = fit(loss_fn, [*model.parameters(), *head.parameters()], steps=steps, lr=lr, seed=seed, log=log,
                what="dino")
    model.eval().save_pretrained(out_dir, safe_serialization=True)
    return stats


# ---- Inception and the oracle: attribute classifiers -------------------------------------------------------------

INCEPTION_HEADS = ("class", "context", "rendering", "holding", "colour", "marking")
ORACLE_HEADS = tuple(V.ATTRIBUTES)


def train_inception(data: WorldData, out_dir: Path, *, channel_scale: float, steps: int, batch_size: int,
                    lr: float, seed: int, log: Log) -> dict:
    from conceptbench.scoring.inception import FIDInceptionV3, save_fid_inception

    torch.manual_seed(seed)
    model = FIDInceptionV3(channel_scale=channel_scale)
    heads = head_sizes(INCEPTION_HEADS)
    # Saved as `fc.`, the key of the real network's classifier, which the FID feature extractor drops on load.
    model.fc = torch.nn.Linear(model.feature_dim, sum(heads.values()))
    pixels, labels = images_to_unit(data.images), _labels_tensor(data, heads)

    def loss_fn(step, generator):
        idx = torch.randint(len(pixels), (batch_size,), generator=generator)
        return multi_head_loss(model.fc(model(pixels[idx])), {k: v[idx] for k, v in labels.items()}, heads)

    model.train()
    stats = fit(loss_fn, list(model.parameters()), steps=steps, lr=lr, seed=seed, log=log, what="inception")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_fid_inception(model.eval(), out_dir / INCEPTION_WEIGHTS)
    return stats


def build_oracle(size: int, seed: int):
    from transformers import ResNetConfig, ResNetForImageClassification

    heads = head_sizes(ORACLE_HEADS)
    id2label = {}
    for name in heads:
        for label in V.ATTRIBUTES[name]:
            id2label[len(id2label)] = f"{name}={label}"
    torch.manual_seed(seed)
    config = ResNetConfig(embedding_size=32, hidden_sizes=[32, 64, 128], depths=[1, 1, 1], layer_type="basic",
                          id2label=id2label, label2id={v: k for k, v in id2label.items()}, image_size=size)
    return ResNetForImageClassification(config)


def train_oracle(data: WorldData, out_dir: Path, *, steps: int, batch_size: int, lr: float, seed: int, log: Log,
                 vae=None) -> dict:
    model = build_oracle(data.images.shape[1], seed)
    heads = head_sizes(ORACLE_HEADS)
    unit = images_to_unit(data.images)
    if vae is not None:
        unit = torch.cat([unit, round_trip(vae, unit)])
        labels = {k: torch.cat([v, v]) for k, v in _labels_tensor(data, heads).items()}
    else:
        labels = _labels_tensor(data, heads)
    pixels = normalise(unit, IMAGENET_MEAN, IMAGENET_STD)

    def loss_fn(step, generator):
        idx = torch.randint(len(pixels), (batch_size,), generator=generator)
        logits = model(pixel_values=pixels[idx]).logits
        return multi_head_loss(logits, {k: v[idx] for k, v in labels.items()}, heads)

    model.train()
    stats = fit(loss_fn, list(model.parameters()), steps=steps, lr=lr, seed=seed, log=log, what="oracle")
    model.eval().save_pretrained(out_dir, safe_serialization=True)
    return stats


@torch.no_grad()
def round_trip(vae, unit: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Images in [0, 1] encoded and decoded by the VAE (posterior mean), as a generated image would look."""
    out = []
    for start in range(0, len(unit), batch):
        x = unit[start:start + batch] * 2 - 1
        out.append(((vae.decode(vae.encode(x).latent_dist.mode()).sample + 1) / 2).clamp(0, 1))
    return torch.cat(out)
