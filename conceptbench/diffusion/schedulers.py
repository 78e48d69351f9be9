"""The samplers `generation.scheduler` may name, each a stock diffusers scheduler built from the model's own config.

Which of them fit a model is its family's to say (`Family.samplers`: the noise-prediction ones for SD-1.x and SDXL,
flow matching's for FLUX.1); left out, a run samples with the family's `default_sampler`.
"""

from __future__ import annotations

SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "dpmsolver": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "flow_match_euler": "FlowMatchEulerDiscreteScheduler",
}


def use_scheduler(pipe, name: str | None):
    """Give `pipe` the sampler `name` (None: its family's default), built from the model's scheduler config."""
    import diffusers

    if name is None:
        from conceptbench.diffusion.families import family_of

        name = family_of(pipe).default_sampler
    try:
        cls = getattr(diffusers, SCHEDULERS[name])
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {sorted(SCHEDULERS)}") from None
    pipe.scheduler = cls.from_config(pipe.scheduler.config)
    return pipe
