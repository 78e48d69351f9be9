"""The recipes of the models pretrained on the conceptbench world (`builtin:world`) and the report of their quality.

- `build` (`python -m conceptbench.world_models build`): retrains every committed weight file and writes its card;
- `tokenizer`, `pipeline`, `encoders`, `fitting`: how the base model and the extractors are pretrained;
- `quality`: what the world oracle says about a base model's pictures of world captions (rule world_quality).

May import: conceptbench.world, diffusion, scoring and the leaves. Nothing below imports it: beside the workflow, it
is the top of the library under conceptbench.cost (which counts the world's quality captions).
"""
