"""The workflow config: the embedded default and the presets validate, and every kind of mistake is refused with a
message that names the config key and says how to fix it (conceptbench.config, schemas/config.schema.yaml)."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conceptbench.config.defaults import DEFAULTS
from conceptbench.config.schema import SCHEMA_PATH, config_schema
from conceptbench.config.validate import ConfigError, load_config_file, validate_config
from conceptbench.inputs.concepts import load_concept_images
from conceptbench.methods import COMMON_DEFAULTS, METHOD_TYPES, method_params
from conceptbench.scoring.registry import METRIC_NAMES

REPO = Path(__file__).resolve().parent.parent
EMBEDDED = REPO / "config.yaml"
DEMO = REPO / "data" / "demo"
PRESETS = sorted((REPO / "config").glob("*.yaml"))
# CI has the DreamBench photos at ../shared; a user's fresh clone does not, so only the tests that need them skip.
DREAMBENCH = REPO.parent / "shared" / "data" / "dreambench"
needs_dreambench = pytest.mark.skipif(not (DREAMBENCH / "dataset").is_dir(),
                                      reason=f"DreamBench photos not found at {DREAMBENCH / 'dataset'}")


def embedded() -> dict:
    """config.yaml as written (defaults not filled in), a fresh copy each call."""
    return yaml.safe_load(EMBEDDED.read_text())


def problem(raw, base_dir=REPO) -> str:
    """The message of the ConfigError that validating `raw` must raise."""
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir)
    return str(info.value)


def assert_says(message: str, *parts: str) -> None:
    missing = [part for part in parts if part not in message]
    assert not missing, f"message lacks {missing}:\n{message}"


def schema() -> dict:
    return config_schema()


# ---- the embedded default -------------------------------------------------------------------------------------


def test_embedded_config_validates():
    cfg = load_config_file(EMBEDDED)
    assert sorted(cfg["_concepts"]) == ["blue_dog", "red_toy"]
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
    settings = set(COMMON_DEFAULTS).union(*(module.DEFAULTS for module in METHOD_TYPES.values()))
    assert set(_method_schema()["properties"]) == settings | {"type"}


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


# ---- bad configs: each names the key and the fix --------------------------------------------------------------


def test_unknown_method_type_lists_the_known_types():
    raw = embedded()
    raw["methods"]["lora"]["type"] = "hypernetwork"
    assert_says(problem(raw), "methods.lora.type", "'hypernetwork'", *METHOD_TYPES)


def test_missing_concept_folder():
    raw = embedded()
    raw["concepts"] = {"ghost": {"images": "no/such/folder", "class": "dog"}}
    assert_says(problem(raw), "concepts.ghost.images", "does not exist", "point it at a folder of 3-10 photos")


def test_empty_concept_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a photo")
    raw = embedded()
    del raw["concepts_dir"]
    raw["concepts"] = {"empty_one": {"images": "empty", "class": "dog"}}
    assert_says(problem(raw, tmp_path), "concepts.empty_one.images", "no images found", "add 3-10 photos")


def test_empty_concept_folder_in_concepts_dir(tmp_path):
    folder = tmp_path / "mine" / "toy"
    folder.mkdir(parents=True)
    (folder / "concept.yaml").write_text("class: toy\nkind: object\n")
    raw = embedded()
    raw["concepts_dir"] = "mine"
    assert_says(problem(raw, tmp_path), "concepts_dir", str(folder), "no images found", "add 3-10 photos")


@pytest.mark.parametrize("steps", [0, -5])
def test_steps_must_be_positive(steps):
    raw = embedded()
    raw["methods"]["lora"]["steps"] = steps
    assert_says(problem(raw), "methods.lora.steps", f"{steps} is less than the minimum of 1")


def test_negative_learning_rate():
    raw = embedded()
    raw["methods"]["dreambooth"]["learning_rate"] = -1e-4
    assert_says(problem(raw), "methods.dreambooth.learning_rate", "less than or equal to the minimum of 0")


@pytest.mark.parametrize("name", ["my/toy", "my toy"])
def test_concept_name_with_slash_or_space(name):
    raw = embedded()
    raw["concepts"] = {name: {"images": "data/demo/blue_dog", "class": "dog"}}
    assert_says(problem(raw), "concepts:", repr(name), "letters, digits, '_' and '-' only", "rename the entry")


def test_method_name_with_space():
    raw = embedded()
    raw["methods"]["my lora"] = raw["methods"].pop("lora")
    assert_says(problem(raw), "methods:", "'my lora'", "letters, digits, '_' and '-' only", "rename the entry")


@pytest.mark.parametrize("name", ["reference", "baseline", "targets"])
def test_reserved_method_name(name):
    raw = embedded()
    raw["methods"][name] = raw["methods"].pop("lora")
    assert_says(problem(raw), "methods:", repr(name), "is reserved", "rename the entry")


def test_misspelt_top_level_key():
    raw = embedded()
    raw["metrcs"] = raw.pop("metrics")
    assert_says(problem(raw), "'metrcs' was unexpected", "remove it or fix its spelling")


def test_misspelt_section_key():
    raw = embedded()
    raw["generation"]["num_imgs"] = 5
    assert_says(problem(raw), "generation:", "'num_imgs' was unexpected", "fix its spelling")


def test_setting_of_another_method_type():
    raw = embedded()
    raw["methods"]["dreambooth"]["rank"] = 8
    assert_says(problem(raw), "methods.dreambooth", "'dreambooth' has no setting(s) ['rank']", "allowed:",
                "prior_preservation")


def test_every_problem_is_listed_at_once():
    raw = embedded()
    raw["methods"]["lora"]["steps"] = 0
    raw["prompts"]["image"] = "a photo"
    message = problem(raw)
    assert_says(message, "methods.lora.steps", "prompts.image")


def test_malformed_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("methods:\n  lora: {type: lora, steps: 10\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert_says(str(info.value), str(path), "is not valid YAML", "line")


@pytest.mark.parametrize("raw", [["base_model", "resolution"], "base_model: builtin:tiny", 42])
def test_config_that_is_not_a_mapping(raw):
    assert_says(problem(raw), "must be a mapping of settings", "config.yaml")


def test_yaml_file_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- base_model\n- resolution\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config_file(path)


def test_concepts_dir_missing():
    raw = embedded()
    raw["concepts_dir"] = "no_such_concepts"
    assert_says(problem(raw), "concepts_dir:", "no_such_concepts", "does not exist", "check the path")


def test_context_prompt_without_placeholder():
    raw = embedded()
    raw["prompts"]["context"][1] = "a photo in a city"
    assert_says(problem(raw), "prompts.context.1", "'a photo in a city'", "must contain {c}",
                "a photo of {c} in a forest")


def test_image_prompt_without_placeholder():
    raw = embedded()
    raw["prompts"]["image"] = "a photo"
    assert_says(problem(raw), "prompts.image", "must contain {c}")


def test_identifier_with_space():
    raw = embedded()
    raw["methods"]["lora"]["identifier"] = "s k s"
    assert_says(problem(raw), "methods.lora.identifier", "one word without spaces")


# ---- through Snakemake: a bad config stops the workflow before any job, with the same message ------------------


@pytest.mark.parametrize("bad, keys", [
    ({"methds": {}, "methods": {"lora": {"steps": -5}}}, ["'methds' was unexpected", "methods.lora.steps"]),
    ({"concepts": {"ghost": {"images": "no/such/folder", "class": "dog"}}}, ["concepts.ghost.images"]),
], ids=["schema", "folders"])
def test_snakemake_refuses_a_bad_config(tmp_path, bad, keys):
    # A --configfile stands alone (the Snakefile then skips config.yaml), so start from the embedded default.
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump({**yaml.safe_load((REPO / "config.yaml").read_text()), **bad}))
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(configfile)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert_says(output, "config problem", *keys)


# ---- presets --------------------------------------------------------------------------------------------------


def _preset(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())


def test_presets_exist():
    assert {"sd15.yaml", "dreambench.yaml"} <= {path.name for path in PRESETS}


def with_local_models(base: Path, preset: dict) -> Path:
    """Put (empty) files where the preset's local model paths point: start-up checks that they exist."""
    for source in [preset["base_model"], *preset.get("extractors", {}).values()]:
        if source.startswith(("models/", "./")):
            (base / source).parent.mkdir(parents=True, exist_ok=True)
            (base / source).touch()
    return base


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_passes_schema_and_method_params(path, tmp_path):
    # Concept folders are checked in the tests below; here they are swapped for the demo concepts.
    raw = yaml.safe_load(path.read_text())
    raw["concepts"] = {}
    raw["concepts_dir"] = str(DEMO)
    cfg = validate_config(raw, with_local_models(tmp_path, raw))
    for entry in cfg["methods"].values():
        method_params(entry)


def test_a_preset_stands_alone(tmp_path):
    """With --configfile, config.yaml is not read: nothing of the embedded default (here a method entry only it
    has) leaks into a preset's run."""
    from workflow_helpers import copy_workflow, dry_run

    workdir = copy_workflow(tmp_path / "run")
    default = embedded()
    default["methods"]["only_in_config_yaml"] = {"type": "lora", "steps": 10}
    (workdir / "config.yaml").write_text(yaml.safe_dump(default))
    assert "only_in_config_yaml" in dry_run(workdir).wildcard_values("method")
    plan = dry_run(workdir, "--configfile", "config/plumbing.yaml")
    assert plan.wildcard_values("method") == set(_preset("plumbing")["methods"]) | {"_reference"}


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
    cfg = load_config_file(REPO / "config" / "sd15.yaml", base_dir=with_local_models(tmp_path, _preset("sd15")))
    assert sorted(cfg["_concepts"]) == ["blue_dog", "red_toy"]
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
    assert cfg["extractors"]["inception"].endswith(".safetensors")
    assert cfg["resources"]["train"]["mem_mb"] == 32000


def _dreambench_lists() -> tuple[dict[str, str], list[str], list[str]]:
    """({subject: class}, object prompts, live prompts) from DreamBench's prompts_and_classes.txt, with {c}."""
    text = (DREAMBENCH / "dataset" / "prompts_and_classes.txt").read_text()
    table = text.split("subject_name,class\n")[1].split("\n\n")[0]
    classes = dict(line.split(",") for line in table.splitlines())
    object_part, live_part = text.split("Live Subject Prompts")

    def prompts(part):
        return [p.replace("{0} {1}", "{c}") for p in re.findall(r"'(.*?)'\.format\(unique_token, class_token\)", part)]

    return classes, prompts(object_part), prompts(live_part)


@needs_dreambench
def test_dreambench_preset_matches_dreambench():
    classes, object_prompts, live_prompts = _dreambench_lists()
    assert len(classes) == 30 and len(object_prompts) == len(live_prompts) == 25
    concepts = _preset("dreambench")["concepts"]
    assert {name: entry["class"] for name, entry in concepts.items()} == classes
    live = {name for name, entry in concepts.items() if entry["kind"] == "live"}
    assert live == {name for name in classes if name.startswith(("cat", "dog"))}
    # Each kind its own list, word for word and in DreamBench's order.
    assert _preset("dreambench")["prompts"]["context"] == {"object": object_prompts, "live": live_prompts}


@needs_dreambench
def test_dreambench_preset_validates_on_the_real_photos(tmp_path):
    # The preset's paths are dreambench/dataset/<subject>, relative to where snakemake runs.
    (tmp_path / "dreambench").symlink_to(DREAMBENCH, target_is_directory=True)
    cfg = load_config_file(REPO / "config" / "dreambench.yaml",
                           base_dir=with_local_models(tmp_path, _preset("dreambench")))
    concepts = cfg["_concepts"]
    assert len(concepts) == 30
    for name, concept in concepts.items():
        assert concept.folder == tmp_path / "dreambench" / "dataset" / name
        images = load_concept_images(concept.folder, 64)
        assert 3 <= len(images) <= 10, name
        assert all(isinstance(img, Image.Image) and img.size == (64, 64) and img.mode == "RGB" for img in images)


@needs_dreambench
def test_dreambench_preset_plans_the_papers_protocol(tmp_path):
    """30 subjects x 25 prompts (their kind's) x 4 images per method, scored over those 25 prompts' images."""
    from workflow_helpers import copy_workflow, dry_run

    from conceptbench.workflow.plan import Plan

    workdir = copy_workflow(tmp_path / "run")
    (workdir / "dreambench").symlink_to(DREAMBENCH, target_is_directory=True)
    with_local_models(workdir, _preset("dreambench"))
    plan = Plan(_preset("dreambench"), workdir)
    _, object_prompts, live_prompts = _dreambench_lists()
    for concept in plan.concepts:
        for method in plan.methods:
            sets = plan.method_sets(concept, method)
            assert [s[0] for s in sets[1:]] == plan.context_ids(concept) and len(sets) == 26
            assert all(len(seeds) == 4 for _, _, seeds in sets)
        phrase = "sks " + plan.concepts[concept].class_noun
        expected = live_prompts if plan.concepts[concept].kind == "live" else object_prompts
        assert [s[1] for s in plan.method_sets(concept, "dreambooth")[1:]] == [p.replace("{c}", phrase)
                                                                              for p in expected]
    assert {"subject_similarity_clip", "subject_similarity_dino", "text_alignment_clip"} <= set(plan.cfg["metrics"])

    jobs = dry_run(workdir, "--configfile", "config/dreambench.yaml").counts
    assert (jobs["train"], jobs["generate"], jobs["features_images"]) == (90, 90, 90)
    assert jobs["metrics"] == 30 * 4  # 3 methods and the reference per subject
    classes = {c.class_slug for c in plan.concepts.values()}
    assert jobs["baselines"] == len(classes) == 15
