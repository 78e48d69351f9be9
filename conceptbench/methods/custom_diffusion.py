"""Custom Diffusion (Kumari et al. 2023): train the key and value projections of the UNet's cross-attention layers
(the layers that read the text) and a new modifier token, with class-prior preservation; the rest stays frozen.

The concept is "<concept> <class noun>" ("a photo of <blue_dog> dog"); the modifier token starts from the class
noun's embedding, as in Textual Inversion. `train_q_out: true` also trains the cross-attention query and output
projections (diffusers' train_custom_diffusion.py --freeze_model crossattn). The trained projections live in
diffusers' own CustomDiffusionAttnProcessor2_0, initialised from the frozen projections they replace.

Saved as diffusers' train_custom_diffusion.py saves it: `unet.save_attn_procs(...)` ->
pytorch_custom_diffusion_weights.safetensors, and the token as Textual Inversion's learned_embeds.safetensors
(`pipe.load_textual_inversion(...)`). The stock `pipe.unet.load_attn_procs(...)` of diffusers 0.42 does not apply
a safetensors file of these weights: without its private `_pipeline` argument it sets no processor at all, and with
it, it counts processors and fails, because safetensors cannot hold the self-attention layers' empty entries
(huggingface/diffusers issues 7261 and 9320). `attach_processors` does the same with public diffusers calls:
CustomDiffusionAttnProcessor2_0 per cross-attention layer, filled from the file, set with `unet.set_attn_processor`.
"""

from __future__ import annotations

from pathlib import Path

from conceptbench.inputs.prompts import training_prompt
from conceptbench.methods import textual_inversion

ARTIFACT = "pytorch_custom_diffusion_weights.safetensors"
DEFAULTS = {
    "placeholder": None,  # None: "<concept name>"
    "train_q_out": False,  # the paper trains keys and values only
    "prior_preservation": True,
    "prior_loss_weight": 1.0,
}
SCHEMA = {"train_q_out": {"type": "boolean"}}
KEY, VALUE, QUERY, OUT = "to_k_custom_diffusion", "to_v_custom_diffusion", "to_q_custom_diffusion", \
    "to_out_custom_diffusion"


def concept_phrase(concept_name: str, class_noun: str, params: dict) -> str:
    return f"{textual_inversion.placeholder_token(concept_name, params)} {class_noun}"


def added_tokens(concept_name: str, params: dict) -> list[str]:
    return textual_inversion.added_tokens(concept_name, params)  # its token is Textual Inversion's


def uses_prior(params: dict) -> bool:
    return bool(params["prior_preservation"])


def attach_processors(unet, weights: dict | None = None, train_q_out: bool = False) -> None:
    """Give every cross-attention layer a Custom Diffusion processor (and self-attention layers one that trains
    nothing, as diffusers' trainer does): from `weights` (a saved state dict) when given, else initialised from the
    layer's own projections."""
    import torch
    from diffusers.models.attention_processor import CustomDiffusionAttnProcessor2_0

    processors = {}
    for name in unet.attn_processors:
        attn = unet.get_submodule(name.removesuffix(".processor"))
        if not attn.is_cross_attention:
            processors[name] = CustomDiffusionAttnProcessor2_0(train_kv=False, train_q_out=False)
            continue
        prefix = f"{name}."
        own = {k.removeprefix(prefix): v for k, v in (weights or {}).items() if k.startswith(prefix)}
        with_q_out = f"{QUERY}.weight" in own if weights is not None else train_q_out
        processor = CustomDiffusionAttnProcessor2_0(
            train_kv=True, train_q_out=with_q_out, hidden_size=attn.to_k.out_features,
            cross_attention_dim=attn.to_k.in_features, out_bias=attn.to_out[0].bias is not None)
        if weights is None:
            own = {f"{KEY}.weight": attn.to_k.weight, f"{VALUE}.weight": attn.to_v.weight}
            if with_q_out:
                own.update({f"{QUERY}.weight": attn.to_q.weight, f"{OUT}.0.weight": attn.to_out[0].weight})
                if attn.to_out[0].bias is not None:
                    own[f"{OUT}.0.bias"] = attn.to_out[0].bias
        with torch.no_grad():
            processor.load_state_dict({k: v.detach().clone() for k, v in own.items()})
        processors[name] = processor.to(device=attn.to_k.weight.device, dtype=attn.to_k.weight.dtype)
    unet.set_attn_processor(processors)


def prepare(pipe, concept_name: str, class_noun: str, params: dict):
    from conceptbench.methods.training import TrainingSetup

    token_setup = textual_inversion.prepare(pipe, concept_name, class_noun, params)  # freezes the UNet too
    attach_processors(pipe.unet, train_q_out=bool(params["train_q_out"]))
    trainable = {**token_setup.trainable,
                 **{f"unet.{n}": p for n, p in pipe.unet.named_parameters() if "_custom_diffusion" in n}}
    for parameter in trainable.values():
        parameter.requires_grad_(True)
    phrase = concept_phrase(concept_name, class_noun, params)
    return TrainingSetup(
        trainable=trainable,
        instance_prompt=training_prompt(phrase),
        class_prompt=training_prompt(class_noun) if uses_prior(params) else None,
        train_text_encoder=True,  # the prompt is encoded every step, with gradients to the token
        after_step=token_setup.after_step,
        extra=token_setup.extra,
    )


def save(pipe, setup, out_dir: Path, params: dict) -> None:
    from diffusers.utils import logging

    textual_inversion.save(pipe, setup, out_dir, params)
    # It warns, listing every self-attention layer, that safetensors leaves out their (empty) entries: expected.
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        pipe.unet.save_attn_procs(str(out_dir), weight_name=ARTIFACT, safe_serialization=True)
    finally:
        logging.set_verbosity(verbosity)


def load(base_model, checkpoint_dir, params: dict):
    from safetensors.torch import load_file

    from conceptbench.diffusion.pipelines import load_pipeline

    pipe = load_pipeline(base_model)
    textual_inversion.load_token(pipe, checkpoint_dir)
    attach_processors(pipe.unet, load_file(str(Path(checkpoint_dir) / ARTIFACT)))
    return pipe
