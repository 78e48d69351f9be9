"""Diffusion models: what a model string means (`sources`), the tiny models the workflow builds (`tiny`,
`tokenizers`), loading base models as stock diffusers pipelines (`pipelines`), image generation (`generation`)
and the device a job uses (`devices`).

May import: conceptbench.world (for the path of its committed weights) and the leaves.
"""
