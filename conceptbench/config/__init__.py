"""The workflow config: read it strictly, fill in the defaults, check everything before any job runs.

- `reading`: the YAML file itself (duplicate keys, tabs, the line of every problem);
- `schema` + `schema.yaml`: the types and ranges, with the method settings and metric names filled in from their
  registries (conceptbench.methods, conceptbench.scoring.registry);
- `defaults`: the settings a config may leave out (their only home);
- `checks`: what a schema cannot say (photos, model paths, prompts, sizes, resource keys);
- `validate`: all of it in order, one ConfigError listing every problem; `python -m conceptbench.config FILE`.

May import: methods, scoring, diffusion, inputs, world and the leaves.
"""
