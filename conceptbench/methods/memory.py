"""The training loop's memory options: where a method entry trades memory for time or precision.

- `gradient_checkpointing`: the UNet (and every text encoder that runs with gradients) keeps only its blocks'
  inputs in the forward pass and recomputes the rest during the backward pass (diffusers'
  `enable_gradient_checkpointing`, transformers' `gradient_checkpointing_enable`), non-reentrant so that gradients
  reach adapters inside frozen layers. The same operations run, so the gradients are those of a run without it.
- `frozen_dtype: compute`: under `mixed_precision` fp16 or bf16, every parameter that does not train (the VAE, the
  frozen UNet or its frozen base weights under LoRA, the frozen text encoders) is stored in that dtype, while the
  trained parameters, and a text encoder whose token embedding trains, stay float32: what diffusers' examples do
  (train_dreambooth.py casts the VAE and a frozen text encoder to `weight_dtype`, train_dreambooth_lora.py the
  whole model and then the LoRA weights back to float32, textual_inversion.py the UNet and VAE).
- `optimizer: adamw8bit`: bitsandbytes' AdamW8bit (Dettmers et al. 2022), whose moments take 2 bytes per parameter
  instead of 8 (tensors under 4096 entries keep 32-bit moments). bitsandbytes is an optional extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch

from conceptbench.methods.extras import bitsandbytes_problem

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def make_optimizer(name: str, groups: list[dict], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer an entry names, over its parameter groups (AdamW's defaults otherwise: betas, epsilon)."""
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    if name == "adamw8bit":
        problem = bitsandbytes_problem()
        if problem:  # start-up checks this too, but a job may run in another environment (a conda env, a node)
            raise RuntimeError(f"optimizer: {problem}")
        import bitsandbytes

        return bitsandbytes.optim.AdamW8bit(groups, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; use adamw or adamw8bit")


def enable_gradient_checkpointing(denoiser, text_encoders: Iterable) -> None:
    """Checkpoint the denoiser's blocks (a UNet, a transformer) and those of the text encoders given (the ones that
    run with gradients)."""
    denoiser.enable_gradient_checkpointing()  # diffusers: non-reentrant torch.utils.checkpoint
    for encoder in text_encoders:
        kwargs = {"use_reentrant": False}
        if hasattr(encoder, "activation_checkpointing_enable"):  # transformers 5; 4.x has the older name only
            encoder.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def _trains_its_input_embedding(module: torch.nn.Module, trained: set[int]) -> bool:
    embeddings = getattr(module, "get_input_embeddings", None)
    return embeddings is not None and id(embeddings().weight) in trained


def frozen_parameters(modules: Iterable[torch.nn.Module], trainable: Iterable[torch.nn.Parameter]):
    """The floating-point parameters of `modules` that are not trained, each once; none of a text encoder whose token
    embedding trains (Textual Inversion's), which stays float32 as in diffusers' textual_inversion.py: its float32
    embeddings would meet half-precision norm weights, which a CPU's autocast does not reconcile."""
    trained = {id(p) for p in trainable}
    seen = set()
    for module in modules:
        if _trains_its_input_embedding(module, trained):
            continue
        for param in module.parameters():
            if id(param) not in trained and id(param) not in seen and param.is_floating_point():
                seen.add(id(param))
                yield param


def parameter_bytes(params: Iterable[torch.Tensor]) -> int:
    return sum(p.numel() * p.element_size() for p in params)


class FrozenStore:
    """Stores the frozen parameters of `modules` in `dtype`; the trained ones are not touched.

    `keep_originals`: keep their float32 values on the host, for a method whose artifact holds frozen modules
    (DreamBooth saves the whole pipeline): `restore()` and `restored()` put the exact weights back. Without it the
    frozen parameters stay in `dtype` to the end: casting them back on the GPU after the last step would raise the
    peak memory for nothing, since such an artifact holds trained parameters only.
    """

    def __init__(self, modules: Iterable[torch.nn.Module], trainable: Iterable[torch.nn.Parameter], dtype: torch.dtype,
                 keep_originals: bool = False):
        self.params = list(frozen_parameters(modules, trainable))
        self.dtype = dtype
        # On a CPU this keeps the very tensors (no copy); on a GPU a host copy.
        self.originals = [p.detach().cpu() for p in self.params] if keep_originals else None
        self.cast()

    def cast(self) -> None:
        for param in self.params:
            param.data = param.data.to(self.dtype)

    def restore(self) -> None:
        if self.originals is None:
            return
        for param, original in zip(self.params, self.originals):
            param.data = original.to(param.device)

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        """The float32 originals for a while (a snapshot's saving), then the compute dtype again."""
        self.restore()
        try:
            yield
        finally:
            if self.originals is not None:
                self.cast()


@contextlib.contextmanager
def frozen_in(dtype: torch.dtype | None, modules, trainable, keep_originals: bool) -> Iterator[FrozenStore | None]:
    """The frozen parameters in `dtype` inside the block (nothing changes when dtype is None); the originals back
    after it when kept. Not after an exception: an interrupted training's pipeline is not saved."""
    if dtype is None:
        yield None
        return
    store = FrozenStore(modules, trainable, dtype, keep_originals)
    yield store
    store.restore()
