"""The conceptbench world: a procedural, captioned world of objects in contexts, deterministic from a seed.

Owns `vocabulary` (its classes, contexts and the wording of captions and prompts), `objects` and `scenes` (how
a scene is drawn), `dataset` (rendered scenes with their ground truth), `demo` (the demo concepts under
data/demo/), and the committed weights of the models pretrained on it (`weights/`, named `builtin:world` in a
config and found through conceptbench.diffusion.sources). How those models are trained lives above, in
conceptbench.world_models.

May import: numpy, PIL; nothing else of conceptbench.
"""
