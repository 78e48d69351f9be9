# conceptbench: which fine-tuning method teaches a diffusion model a new concept best?
# The stages live in rules/*.smk (one file each); the library in conceptbench/ does the work.
from snakemake.utils import min_version

min_version("9.0")


# The config: config.yaml (the embedded default), read by rules/common.smk unless --configfile names a preset.
include: "rules/common.smk"


wildcard_constraints:
    concept=NAME_PATTERN,
    method=RUN_PATTERN,  # a method entry, or one of its other training seeds (lora@seed1)
    cls=NAME_PATTERN,
    extractor="|".join(PLAN.extractors),


include: "rules/models.smk"
include: "rules/train.smk"
include: "rules/generate.smk"
include: "rules/features.smk"
include: "rules/metrics.smk"
include: "rules/report.smk"
include: "rules/world.smk"


rule all:
    input:
        PLAN.all_outputs(),
    default_target: True
