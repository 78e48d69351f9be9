"""Textual Inversion (Gal et al. 2022): learn one new token embedding; the model itself stays frozen.

Where a model has several text encoders the token gets an embedding in each, saved under the family's
`embedding_keys` with the token in the file's metadata: SDXL {"clip_l", "clip_g"} (diffusers' SDXL textual inversion
example), FLUX.1 {"clip_l", "t5"} (diffusers' advanced FLUX trainer); `load` gives each to
`pipe.load_textual_inversion` with its encoder. The denoiser (UNet or transformer) stays frozen.
"""

from __future__ import annotations

from pathlib import Path

from conceptbench.inputs.prompts import training_prompt

ARTIFACT = "learned_embeds.safetensors"
DEFAULTS = {"placeholder": None}  # None: "<concept name>"


def placeholder_token(concept_name: str, params: dict) -> str:
    return params.get("placeholder") or f"<{concept_name}>"


def concept_phrase(concept_name: str, class_noun: str, params: dict) -> str:
    return placeholder_token(concept_name, params)


def added_tokens(concept_name: str, params: dict) -> list[str]:
    """The tokens `prepare` adds to each tokenizer: the placeholder, one token for its one learned vector."""
    return [placeholder_token(concept_name, params)]


def uses_prior(params: dict) -> bool:
    return False


def check_placeholder(token: str, tokenizer) -> None:
    """Refuse a placeholder the tokenizer already reads as one of its words: CLIP's vocabulary holds `dog</w>`, not
    `dog`, so adding "dog" would succeed and make the word "dog" in every prompt map to a new, random row."""
    pieces = tokenizer.tokenize(token)
    if len(pieces) == 1 and tokenizer.convert_tokens_to_ids(pieces[0]) != tokenizer.unk_token_id:
        raise ValueError(f"placeholder {token!r} is already a word of this tokenizer ({pieces[0]!r}): prompts that "
                         "use the word would change meaning; choose a placeholder it does not know, e.g. <my_concept>")


def prepare(pipe, concept_name: str, class_noun: str, params: dict):
    import torch

    from conceptbench.diffusion.families import family_of
    from conceptbench.diffusion.pipelines import text_encoders
    from conceptbench.methods.training import TrainingSetup

    token = placeholder_token(concept_name, params)
    family_of(pipe).denoiser(pipe).requires_grad_(False)
    pipe.vae.requires_grad_(False)
    trainable, token_ids, restores = {}, [], []
    for index, (_, tokenizer, text_encoder) in enumerate(text_encoders(pipe)):
        check_placeholder(token, tokenizer)
        if tokenizer.add_tokens(token) != 1:
            raise ValueError(f"placeholder {token!r} is already a token of this tokenizer; choose another placeholder")
        token_id = tokenizer.convert_tokens_to_ids(token)
        # T5's embedding has spare rows past its tokenizer (32128 for 32100 tokens): it never shrinks here.
        rows = text_encoder.get_input_embeddings().weight.shape[0]
        text_encoder.resize_token_embeddings(max(len(tokenizer), rows), mean_resizing=False)

        # Start from the class noun's meaning (mean of its token embeddings), as the paper does.
        init_ids = tokenizer(class_noun, add_special_tokens=False).input_ids
        weight = text_encoder.get_input_embeddings().weight
        with torch.no_grad():
            weight[token_id] = weight[init_ids].mean(dim=0)
        keep = torch.ones(len(weight), dtype=torch.bool)
        keep[token_id] = False
        restores.append((weight, keep, weight.detach().clone()))
        text_encoder.requires_grad_(False)
        weight.requires_grad_(True)
        trainable["token_embedding" if index == 0 else f"token_embedding_{index + 1}"] = weight
        token_ids.append(token_id)

    def restore_other_rows():
        # Weight decay and Adam touch the whole matrix; only the new token's row may change.
        with torch.no_grad():
            for weight, keep, original in restores:
                weight[keep] = original[keep].to(weight.device)

    return TrainingSetup(
        trainable=trainable,
        instance_prompt=training_prompt(token),
        train_text_encoder=True,
        after_step=restore_other_rows,
        extra={"token": token, "token_ids": token_ids},
    )


def save(pipe, setup, out_dir: Path, params: dict) -> None:
    from safetensors.torch import save_file

    from conceptbench.diffusion.families import family_of

    rows = [weight.detach()[token_id].cpu().clone().unsqueeze(0).contiguous()
            for weight, token_id in zip(setup.trainable.values(), setup.extra["token_ids"])]
    keys = family_of(pipe).embedding_keys
    if keys is None:
        save_file({setup.extra["token"]: rows[0]}, str(Path(out_dir) / ARTIFACT))
    else:  # the keys name the encoders; the token's name goes into the file's metadata
        save_file(dict(zip(keys, rows)), str(Path(out_dir) / ARTIFACT), metadata={"token": setup.extra["token"]})


def load_token(pipe, checkpoint_dir) -> None:
    """The stock calls: SD-1.x loads the file; SDXL and FLUX.1 give each encoder its embedding under the file's
    token."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from conceptbench.diffusion.families import family_of
    from conceptbench.diffusion.pipelines import text_encoders

    keys = family_of(pipe).embedding_keys
    if keys is None:
        pipe.load_textual_inversion(str(checkpoint_dir), weight_name=ARTIFACT)
        return
    path = str(Path(checkpoint_dir) / ARTIFACT)
    with safe_open(path, framework="pt") as handle:
        token = handle.metadata()["token"]
    embeddings = load_file(path)
    for key, (_, tokenizer, text_encoder) in zip(keys, text_encoders(pipe)):
        pipe.load_textual_inversion(embeddings[key], token=token, text_encoder=text_encoder, tokenizer=tokenizer)


def load(base_model, checkpoint_dir, params: dict):
    from conceptbench.diffusion.pipelines import load_pipeline

    pipe = load_pipeline(base_model)
    load_token(pipe, checkpoint_dir)
    return pipe
