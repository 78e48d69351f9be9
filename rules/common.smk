# Config checking and the small functions every rule file uses to name its inputs and settings.
from pathlib import Path

from snakemake.exceptions import WorkflowError

from conceptbench.config import ConfigError, validate_config
from conceptbench.methods import get_method, method_params
from conceptbench.models import BUILTIN_TINY
from conceptbench.names import NAME_PATTERN
from conceptbench.prompts import PLAIN_ID, baseline_prompt, fill, prompt_ids

try:
    CFG = validate_config(config, Path.cwd())
except (ConfigError, ValueError) as error:
    raise WorkflowError(f"config problem (fix it in your config file):\n{error}") from None

CONCEPTS = CFG["_concepts"]
METHODS = {name: method_params(entry) for name, entry in CFG["methods"].items()}
PROMPTS = prompt_ids(CFG["prompts"]["image"], CFG["prompts"]["context"])  # id -> template, `plain` first
CONTEXT_IDS = [pid for pid in PROMPTS if pid != PLAIN_ID]
CLASSES = {c.class_slug: c.class_noun for c in CONCEPTS.values()}
EXTRACTORS = sorted({m.rsplit("_", 1)[1] for m in CFG["metrics"]})
GPU = 1 if CFG["device"] == "cuda" else 0


wildcard_constraints:
    concept=NAME_PATTERN,
    method=NAME_PATTERN,
    cls=NAME_PATTERN,
    extractor="|".join(EXTRACTORS),


def resources_for(rule_name, runtime, mem_mb, gpu=False):
    """Default resources of a rule, overridden per rule by `resources:` in the config (minutes, MB)."""
    given = CFG["resources"].get(rule_name, {})
    out = {"runtime": given.get("runtime", runtime), "mem_mb": given.get("mem_mb", mem_mb)}
    if gpu and GPU:
        out["gpu"] = given.get("gpu", GPU)
    return out


def threads_for(rule_name, default):
    return CFG["resources"].get(rule_name, {}).get("threads", default)


# ---- base model and extractors: built here for builtin:tiny, else used where they are -------------------------


def base_model_path():
    return "results/base_model" if CFG["base_model"] == BUILTIN_TINY else CFG["base_model"]


def base_model_input():
    return ["results/base_model"] if CFG["base_model"] == BUILTIN_TINY else []


def extractor_source(kind):
    source = CFG["extractors"][kind]
    return f"results/extractors/{kind}" if source == BUILTIN_TINY else source


def extractor_input(kind):
    return [f"results/extractors/{kind}"] if CFG["extractors"][kind] == BUILTIN_TINY else []


# ---- concepts, methods, prompts -------------------------------------------------------------------------------


def concept_phrase(concept, method):
    c = CONCEPTS[concept]
    return get_method(METHODS[method]["type"]).concept_phrase(concept, c.class_noun, METHODS[method])


def uses_prior(method):
    return get_method(METHODS[method]["type"]).uses_prior(METHODS[method])


def generation_settings():
    g = CFG["generation"]
    return {"steps": g["steps"], "guidance_scale": g["guidance_scale"], "scheduler": g["scheduler"],
            "batch_size": g["batch_size"], "resolution": CFG["resolution"]}


def random_extractors():
    return [kind for kind in EXTRACTORS if CFG["extractors"][kind] == BUILTIN_TINY]


def all_outputs():
    outputs = [f"results/checkpoints/{c}/{m}" for c in CONCEPTS for m in METHODS]
    outputs += ["results/summary/metrics.csv", "results/summary/metrics.md"]
    outputs += [f"results/summary/similarity_{family}.{ext}" for family in scatter_families() for ext in ("png", "svg")]
    outputs += [f"results/summary/grids/{c}.png" for c in CONCEPTS]
    return outputs


def scatter_families():
    from conceptbench.metrics import metric_axes

    return [family for family, axes in metric_axes().items() if all(a in CFG["metrics"] for a in axes)]
