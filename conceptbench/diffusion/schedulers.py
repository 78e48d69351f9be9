"""The samplers `generation.scheduler` may name, each a stock diffusers scheduler built from the model's own config."""

from __future__ import annotations

SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "dpmsolver": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
}


def use_scheduler(pipe, name: str):
    import diffusers

    try:
        cls = getattr(diffusers, SCHEDULERS[name])
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {sorted(SCHEDULERS)}") from None
    pipe.scheduler = cls.from_config(pipe.scheduler.config)
    return pipe
