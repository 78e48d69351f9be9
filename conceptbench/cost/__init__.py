"""What a run will cost, before it starts: `python -m conceptbench.cost CONFIG`.

- `work`: what each job of the plan does (training samples, images, denoising steps), from the Plan the rules read;
- `throughput`: the per-family table of seconds per unit of work, each figure with where it comes from;
- `report`: the text a user reads: jobs per rule, training and images per method, the estimated hours.

May import: workflow (the Plan), world_models (the world's quality captions) and everything below them. Nothing
imports it: it is the top of the library.
"""
