"""The workflow config: the embedded default and the presets validate, the schema agrees with the registries it is
built from, and the resource keys are the rules' (conceptbench.config, conceptbench/config/schema.yaml). Every kind
of mistake, refused with a message that names the key and the fix, is in tests/unit/config/test_bad_inputs.py; the
presets' dry runs are in tests/workflow/test_start_up.py."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from config_helpers import (
    DEMO,
    DREAMBENCH,
    EMBEDDED,
    PRESETS,
    dreambench_lists,
    needs_dreambench,
    preset,
    with_local_models,
)
from PIL import Image
from workflow_helpers import REPO

from conceptbench.config.defaults import DEFAULTS
from conceptbench.config.schema import SCHEMA_PATH, config_schema
from conceptbench.config.validate import load_config_file, validate_config
from conceptbench.inputs.concepts import load_concept_images
from conceptbench.methods import COMMON_DEFAULTS, METHOD_TYPES, method_params
from conceptbench.scoring.registry import METRIC_NAMES


def schema() -> dict:
    return config_schema()


# ---- the embedded default -------------------------------------------------------------------------------------


def test_embedded_config_validates():
    cfg = load_config_file(EMBEDDED)
    assert sorted(cfg["_concepts"]) == ["blue_dog", "cyan_robot"]
    assert cfg["_concepts"]["blue_dog"].folder == REPO / "data" / "demo" / "blue_dog"
    assert sorted(cfg["methods"]) == ["dreambooth", "lora", "textual_inversion"]
    # Keys it leaves out come from DEFAULTS.
    assert cfg["resources"] == {} and cfg["concepts"] == {}


def test_defaults_satisfy_the_schema():
    import jsonschema

    filled = {**copy.deepcopy(DEFAULTS), "base_model": "builtin:tiny", "resolution": 32,
              "methods": {"lora": {"type": "lora"}}}
    jsonschema.Draft202012Validator(schema()).validate(filled)


# ---- the schema cannot drift from the code ---------------------------------------------------------------------


def _method_schema() -> dict:
    return schema()["properties"]["methods"]["additionalProperties"]


def test_schema_method_types_are_the_registry():
    assert sorted(_method_schema()["properties"]["type"]["enum"]) == sorted(METHOD_TYPES)


def test_schema_method_settings_are_the_registry_defaults():
    from conceptbench.diffusion.families import FAMILIES

    settings = set(COMMON_DEFAULTS).union(*(module.DEFAULTS for module in METHOD_TYPES.values()))
    family_settings = set().union(*(family.settings for family in FAMILIES.values()))  # FLUX.1's flow matching
    assert family_settings and set(_method_schema()["properties"]) == settings | family_settings | {"type"}


def test_schema_metrics_are_the_metric_names():
    assert sorted(schema()["properties"]["metrics"]["items"]["enum"]) == sorted(METRIC_NAMES)


def test_the_schema_file_leaves_the_registries_parts_to_them():
    """schema.yaml itself lists no method type, setting, metric or scheduler: their registries fill them in."""
    text = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]
    assert text["methods"]["additionalProperties"]["properties"] == {}
    assert text["metrics"]["items"] == {} and text["generation"]["properties"]["scheduler"] == {}
    assert "default:" not in SCHEMA_PATH.read_text()  # defaults live in conceptbench/config/defaults.py only


def test_the_schema_is_package_data():
    """A non-editable install ships the schema inside the package (pyproject's package-data)."""
    import tomllib

    assert SCHEMA_PATH.parent == Path(__import__("conceptbench.config").config.__file__).parent
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "schema.yaml" in package_data["conceptbench.config"]


def test_a_method_setting_without_a_schema_is_refused(monkeypatch):
    from conceptbench import methods

    monkeypatch.setitem(methods.lora.DEFAULTS, "new_knob", 1)
    with pytest.raises(TypeError, match="new_knob"):
        methods.settings_schema()


# ---- presets --------------------------------------------------------------------------------------------------


def test_presets_exist():
    assert {"sd15.yaml", "dreambench.yaml"} <= {path.name for path in PRESETS}


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_passes_schema_and_method_params(path, tmp_path):
    # Concept folders are checked in the tests below; here they are swapped for the demo concepts.
    raw = yaml.safe_load(path.read_text())
    raw["concepts"] = {}
    raw["concepts_dir"] = str(DEMO)
    cfg = validate_config(raw, with_local_models(tmp_path, raw))
    for entry in cfg["methods"].values():
        method_params(entry)


def test_the_resource_keys_are_the_ones_the_rules_look_up():
    from conceptbench.config.checks import RESOURCE_KEYS

    assert set(RESOURCE_KEYS) == _resource_rule_names()


def _resource_rule_names() -> set[str]:
    text = "".join(path.read_text() for path in (REPO / "rules").glob("*.smk"))
    return set(re.findall(r"(?:resources|threads)(?:_for)?\(\s*\"([A-Za-z0-9_]+)\"", text))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_resources_name_real_rules(path):
    names = _resource_rule_names()
    assert "train" in names, "rules/*.smk no longer look up resources by rule name"
    unknown = set(yaml.safe_load(path.read_text()).get("resources", {})) - names
    assert not unknown, f"{path.name}: resources for unknown rule(s) {sorted(unknown)}; known: {sorted(names)}"


def test_sd15_preset_uses_its_concepts_folder_and_the_published_recipes(tmp_path):
    (tmp_path / "my_concepts").symlink_to(DEMO, target_is_directory=True)
    cfg = load_config_file(REPO / "config" / "sd15.yaml", base_dir=with_local_models(tmp_path, preset("sd15")))
    assert sorted(cfg["_concepts"]) == ["blue_dog", "cyan_robot"]
    assert (cfg["base_model"], cfg["resolution"], cfg["device"]) == \
        ("stable-diffusion-v1-5/stable-diffusion-v1-5", 512, "cuda")

    params = {name: method_params(entry) for name, entry in cfg["methods"].items()}
    ti, db, lora = params["textual_inversion"], params["dreambooth"], params["lora"]
    assert (ti["learning_rate"], ti["scale_lr"], ti["batch_size"], ti["steps"]) == (5e-4, True, 4, 3000)
    assert (db["learning_rate"], db["steps"], db["batch_size"], db["prior_preservation"]) == (5e-6, 800, 1, True)
    assert (lora["rank"], lora["alpha"], lora["learning_rate"], lora["steps"]) == (4, 4, 1e-4, 500)
    pti = params["pivotal_tuning"]
    assert (pti["learning_rate"], pti["token_learning_rate"], pti["rank"], pti["steps"]) == (1e-4, 5e-4, 4, 1000)
    cd = params["custom_diffusion"]
    assert (cd["learning_rate"], cd["scale_lr"], cd["batch_size"], cd["steps"], cd["train_q_out"],
            cd["prior_preservation"]) == (1e-5, True, 2, 250, False, True)
    assert cfg["prior"] == {"num_images": 200, "steps": 50, "guidance_scale": 7.5, "seed": 100000}
    g = cfg["generation"]
    assert (g["steps"], g["scheduler"], g["guidance_scale"]) == (50, "ddim", 7.5)
    assert cfg["extractors"]["inception"] == "pytorch-fid"  # fetched on first use: no manual step
    assert cfg["resources"]["train"]["mem_mb"] == 32000


def test_flux_preset_runs_diffusers_flux_lora_recipe_with_flux_defaults(tmp_path):
    """Before the model is downloaded, start-up knows the preset's hub model is FLUX.1: its method entries get
    FLUX.1's defaults (LoRA's targets, flow matching's settings) and the sampler FLUX.1's own, as they will once it
    is in the cache (a plan that changed then would retrain everything)."""
    from conceptbench.diffusion.families import flux1

    (tmp_path / "my_concepts").symlink_to(DEMO, target_is_directory=True)
    cfg = load_config_file(REPO / "config" / "flux.yaml", base_dir=with_local_models(tmp_path, preset("flux")))
    assert (cfg["base_model"], cfg["resolution"], cfg["device"]) == ("black-forest-labs/FLUX.1-dev", 512, "cuda")
    lora, db_lora = cfg["_methods"]["lora"], cfg["_methods"]["dreambooth_lora"]
    for entry in (lora, db_lora):
        assert (entry["rank"], entry["alpha"], entry["learning_rate"], entry["steps"], entry["batch_size"]) == \
            (4, 4, 1e-4, 500, 4)
        assert entry["target_modules"] == flux1.LORA_TARGETS and entry["guidance_scale"] == 1.0
        assert (entry["weighting_scheme"], entry["mixed_precision"]) == ("none", "bf16")
    assert not lora["prior_preservation"] and db_lora["prior_preservation"]
    g = cfg["generation"]
    assert (g["steps"], g["scheduler"], g["guidance_scale"]) == (28, "flow_match_euler", 3.5)


def test_flux2_klein_preset_runs_diffusers_klein_lora_recipe_on_the_base_model(tmp_path):
    from conceptbench.diffusion.families import flux2_klein

    (tmp_path / "my_concepts").symlink_to(DEMO, target_is_directory=True)
    cfg = load_config_file(REPO / "config" / "flux2_klein.yaml",
                           base_dir=with_local_models(tmp_path, preset("flux2_klein")))
    assert (cfg["base_model"], cfg["resolution"]) == ("black-forest-labs/FLUX.2-klein-base-4B", 1024)
    for name in ("lora", "dreambooth_lora"):
        entry = cfg["_methods"][name]
        assert (entry["rank"], entry["learning_rate"], entry["lr_warmup_steps"], entry["steps"], entry["batch_size"],
                entry["gradient_checkpointing"]) == (4, 1e-4, 100, 500, 1, True)
        assert entry["target_modules"] == flux2_klein.LORA_TARGETS and "guidance_scale" not in entry
    assert cfg["_methods"]["dreambooth_lora"]["prior_preservation"]
    g = cfg["generation"]
    assert (g["steps"], g["scheduler"], g["guidance_scale"]) == (50, "flow_match_euler", 4.0)


def test_qwen_image_preset_runs_diffusers_qwen_image_lora_recipe(tmp_path):
    from conceptbench.diffusion.families import qwen_image

    (tmp_path / "my_concepts").symlink_to(DEMO, target_is_directory=True)
    cfg = load_config_file(REPO / "config" / "qwen_image.yaml",
                           base_dir=with_local_models(tmp_path, preset("qwen_image")))
    assert (cfg["base_model"], cfg["resolution"]) == ("Qwen/Qwen-Image", 1024)
    for name in ("lora", "dreambooth_lora"):
        entry = cfg["_methods"][name]
        assert (entry["rank"], entry["learning_rate"], entry["lr_warmup_steps"], entry["steps"], entry["batch_size"],
                entry["mixed_precision"], entry["gradient_checkpointing"]) == (4, 2e-4, 0, 500, 1, "bf16", True)
        assert entry["target_modules"] == qwen_image.LORA_TARGETS and entry["weighting_scheme"] == "none"
    assert cfg["_methods"]["dreambooth_lora"]["prior_preservation"]
    g = cfg["generation"]
    assert (g["steps"], g["scheduler"], g["guidance_scale"]) == (50, "flow_match_euler", 4.0)


@pytest.mark.parametrize("name", ["sd15", "sdxl", "dreambench", "flux", "flux2_klein", "qwen_image"])
def test_the_real_presets_fetch_the_fid_inception_weights_themselves(name):
    from conceptbench.diffusion.sources import source_problems

    assert preset(name)["extractors"]["inception"] == "pytorch-fid"
    assert source_problems("extractors.inception", "pytorch-fid", REPO, "inception") == []


@needs_dreambench
def test_dreambench_preset_matches_dreambench():
    classes, object_prompts, live_prompts = dreambench_lists()
    assert len(classes) == 30 and len(object_prompts) == len(live_prompts) == 25
    concepts = preset("dreambench")["concepts"]
    assert {name: entry["class"] for name, entry in concepts.items()} == classes
    live = {name for name, entry in concepts.items() if entry["kind"] == "live"}
    assert live == {name for name in classes if name.startswith(("cat", "dog"))}
    # Each kind its own list, word for word and in DreamBench's order.
    assert preset("dreambench")["prompts"]["context"] == {"object": object_prompts, "live": live_prompts}


@needs_dreambench
def test_dreambench_preset_validates_on_the_real_photos(tmp_path):
    # The preset's paths are dreambench/dataset/<subject>, relative to where snakemake runs.
    (tmp_path / "dreambench").symlink_to(DREAMBENCH, target_is_directory=True)
    cfg = load_config_file(REPO / "config" / "dreambench.yaml",
                           base_dir=with_local_models(tmp_path, preset("dreambench")))
    concepts = cfg["_concepts"]
    assert len(concepts) == 30
    for name, concept in concepts.items():
        assert concept.folder == tmp_path / "dreambench" / "dataset" / name
        images = load_concept_images(concept.folder, 64)
        assert 3 <= len(images) <= 10, name
        assert all(isinstance(img, Image.Image) and img.size == (64, 64) and img.mode == "RGB" for img in images)
