"""Textual Inversion (Gal et al. 2022): learn one new token embedding; the model itself stays frozen."""

from __future__ import annotations

from pathlib import Path

ARTIFACT = "learned_embeds.safetensors"
DEFAULTS = {"placeholder": None}  # None: "<concept name>"


def placeholder_token(concept_name: str, params: dict) -> str:
    return params.get("placeholder") or f"<{concept_name}>"


def concept_phrase(concept_name: str, class_noun: str, params: dict) -> str:
    return placeholder_token(concept_name, params)


def uses_prior(params: dict) -> bool:
    return False


def prepare(pipe, concept_name: str, class_noun: str, params: dict):
    import torch

    from .training import TrainingSetup

    tokenizer, text_encoder = pipe.tokenizer, pipe.text_encoder
    token = placeholder_token(concept_name, params)
    if tokenizer.add_tokens(token) != 1:
        raise ValueError(f"placeholder {token!r} is already a token of this tokenizer; choose another placeholder")
    token_id = tokenizer.convert_tokens_to_ids(token)
    text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)

    # Start from the class noun's meaning (mean of its token embeddings), as the paper does.
    init_ids = tokenizer(class_noun, add_special_tokens=False).input_ids
    weight = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weight[token_id] = weight[init_ids].mean(dim=0)
    original = weight.detach().clone()
    keep = torch.ones(len(original), dtype=torch.bool)
    keep[token_id] = False

    text_encoder.requires_grad_(False)
    pipe.unet.requires_grad_(False)
    pipe.vae.requires_grad_(False)
    weight.requires_grad_(True)

    def restore_other_rows():
        # Weight decay and Adam touch the whole matrix; only the new token's row may change.
        with torch.no_grad():
            weight[keep] = original[keep].to(weight.device)

    return TrainingSetup(
        trainable={"token_embedding": weight},
        instance_prompt=f"a photo of {token}",
        train_text_encoder=True,
        after_step=restore_other_rows,
        extra={"token": token, "token_id": token_id},
    )


def save(pipe, setup, out_dir: Path, params: dict) -> None:
    from safetensors.torch import save_file

    row = setup.trainable["token_embedding"].detach()[setup.extra["token_id"]].cpu().clone()
    save_file({setup.extra["token"]: row.unsqueeze(0).contiguous()}, str(Path(out_dir) / ARTIFACT))


def load(base_model, checkpoint_dir, params: dict):
    from ..models import load_pipeline

    pipe = load_pipeline(base_model)
    pipe.load_textual_inversion(str(checkpoint_dir), weight_name=ARTIFACT)
    return pipe
