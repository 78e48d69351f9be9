"""The small optimisation loop every world model is pretrained with: AdamW, warm-up, clipping, optional EMA."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch


def images_to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0


def fit(loss_fn: Callable[[int, torch.Generator], torch.Tensor], params: Sequence[torch.nn.Parameter], *,
        steps: int, lr: float, seed: int, log: Callable[[str], None], what: str, warmup: int = 100,
        weight_decay: float = 0.01, ema_decay: float | None = None, log_every: int = 100) -> dict:
    """Minimise `loss_fn(step, generator)` over `params`; returns {"steps", "seconds", "cpu_seconds", "final_loss"}.

    With `ema_decay`, the parameters end as their exponential moving average (warmed up as 1 - 1/(step+10)
    would suggest), which gives much better samples than the last iterate after short training.
    """
    params = [p for p in params if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    ema = [p.detach().clone() for p in params] if ema_decay else None
    started, cpu_started, running = time.time(), time.process_time(), None
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / max(1, warmup))
        loss = loss_fn(step, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if ema is not None:
            decay = min(ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for average, p in zip(ema, params):
                    average.mul_(decay).add_(p.detach(), alpha=1 - decay)
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        if (step + 1) % log_every == 0 or step + 1 == steps:
            log(f"{what}: step {step + 1}/{steps} loss {running:.4f} ({time.time() - started:.0f} s)")
    if ema is not None:
        with torch.no_grad():
            for average, p in zip(ema, params):
                p.copy_(average)
    # CPU seconds beside wall seconds: the wall time grows when other work shares the machine, the CPU time less.
    return {"steps": steps, "seconds": round(time.time() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu_started, 1), "final_loss": running}
