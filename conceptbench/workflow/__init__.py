"""The plan the Snakemake rules read (`plan.Plan`): which jobs exist and the inputs, params and resources of each,
as pure functions of the validated config, so the rules stay declarative and the logic is tested without Snakemake.

May import: everything below it (config, methods, scoring, diffusion, inputs, world, the leaves).
"""
