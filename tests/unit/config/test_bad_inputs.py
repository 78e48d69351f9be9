"""The bad-input catalogue: every config or input mistake a user can make stops at start-up, before any job, with
a message naming the key or file. Each case says what it breaks; the stage is start-up for all of them (the few
checks that cannot run there are listed in README, "Bad inputs").

Every case validates in this process (load_config_file, or validate_config), as the Snakefile does first thing;
tests/workflow/test_start_up.py runs `snakemake --dry-run` on a few of them to show that the message reaches the
user there and that no job runs. Each bad input is tested here once, with every fragment its message must have.
"""

from pathlib import Path

import pytest
from config_helpers import (
    DEMO_DOG,
    GOOD_TEXT,
    assert_names,
    base_config,
    concept,
    corrupt_photo,
    write_config_file,
)

from conceptbench.config.reading import command_line_values, problem_header
from conceptbench.config.validate import ConfigError, load_config_file, validate_config
from conceptbench.methods import METHOD_TYPES


def message_of(tmp_path: Path, raw: dict | str) -> str:
    """The start-up error for a config (a dict, or a file's text), read from tmp_path as the workflow reads it."""
    with pytest.raises(ConfigError) as info:
        load_config_file(write_config_file(tmp_path, raw), tmp_path)
    return str(info.value)


# ---- config files: each mistake gives the file and the line --------------------------------------------------


FILE_CASES = {
    "yaml syntax": ("resolution: [32\nseed: 0\n", ["is not valid YAML", "line"]),
    "tab indentation": ("prior:\n\tnum_images: 8\n", ["tab in the indentation", "line 2"]),
    "empty file": ("", ["is empty"]),
    "a number as YAML reads text": (GOOD_TEXT.replace("learning_rate: 5.0e-3", "learning_rate: 5e-3"),
                                    ["methods.textual_inversion.learning_rate", "'5e-3'", "write 5.0e-3"]),
    "comments only": ("# nothing here\n\n", ["is empty"]),
    "top-level list": ("- base_model\n- resolution\n", ["must be a mapping", "not a list"]),
    "top-level scalar": ("builtin:world\n", ["must be a mapping", "not a str"]),
    "duplicate top-level key": (GOOD_TEXT + "\nresolution: 64\n", ["'resolution' appears twice", "line"]),
    "duplicate concept": ("concepts:\n  a: {images: x, class: dog}\n  a: {images: y, class: cat}\n",
                          ["'a' appears twice", "line 3", "first on line 2"]),
}


@pytest.mark.parametrize("case", FILE_CASES, ids=str)
def test_a_broken_config_file_names_file_and_line(tmp_path, case):
    text, parts = FILE_CASES[case]
    message = message_of(tmp_path, text)
    assert_names(message, str(tmp_path / "config.yaml"), *parts)


@pytest.mark.parametrize("raw", [["base_model", "resolution"], "base_model: builtin:tiny", 42])
def test_a_config_that_is_not_a_mapping_is_refused(raw):
    # What validate_config is given (Snakemake's config object), not a file: a file is refused as it is read, above.
    with pytest.raises(ConfigError) as info:
        validate_config(raw, ".")
    assert_names(str(info.value), "must be a mapping of settings", "config.yaml")


# ---- settings -------------------------------------------------------------------------------------------------


def _set(raw: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        raw = raw.setdefault(key, {})
    raw[last] = value


_NAME_RULE = ["letters, digits, '_' and '-' only", "rename the entry"]
_RESERVED = ["methods:", "is reserved", "rename the entry"]
SETTING_CASES = {
    "misspelt top-level key": ({"resolutoin": 32}, ["resolutoin", "unexpected", "'resolutoin' was unexpected",
                                                    "remove it or fix its spelling"]),
    "misspelt section key": ({"generation.num_imgs": 5}, ["generation:", "'num_imgs' was unexpected",
                                                          "fix its spelling"]),
    "resolution zero": ({"resolution": 0}, ["resolution"]),
    "resolution not a multiple of 8": ({"resolution": 30}, ["resolution", "multiple of 8", "24 or 32"]),
    "zero steps": ({"methods.lora.steps": 0}, ["methods.lora.steps", "0 is less than the minimum of 1"]),
    "negative steps": ({"methods.lora.steps": -5}, ["methods.lora.steps", "-5 is less than the minimum of 1"]),
    "negative learning rate": ({"methods.dreambooth.learning_rate": -1e-4},
                               ["methods.dreambooth.learning_rate", "less than or equal to the minimum of 0"]),
    "unknown method type": ({"methods.lora.type": "hypernetwork"},
                            ["methods.lora", "methods.lora.type", "'hypernetwork'", *METHOD_TYPES]),
    "method name with slash": ({"methods.my/lora": {"type": "lora"}}, ["'my/lora'", "not allowed"]),
    "method name with space": ({"methods.my lora": {"type": "lora"}},
                               ["'my lora'", "not allowed", "methods:", *_NAME_RULE]),
    "reserved method name": ({"methods.reference": {"type": "lora"}}, ["'reference'", "reserved", *_RESERVED]),
    "reserved method name baseline": ({"methods.baseline": {"type": "lora"}}, ["'baseline'", *_RESERVED]),
    "reserved method name targets": ({"methods.targets": {"type": "lora"}}, ["'targets'", *_RESERVED]),
    "reserved method name base_model": ({"methods.base_model": {"type": "lora"}}, ["'base_model'", *_RESERVED]),
    "unknown method setting": ({"methods.lora.rnak": 8}, ["methods.lora", "rnak"]),
    # 'rank' is a setting of lora (so the schema, which has every type's settings, lets it through), not of dreambooth
    "setting of another method type": ({"methods.dreambooth.rank": 8},
                                       ["methods.dreambooth", "'dreambooth' has no setting(s) ['rank']", "allowed:",
                                        "prior_preservation"]),
    "identifier with space": ({"methods.lora.identifier": "s k s"},
                              ["methods.lora.identifier", "one word without spaces"]),
    "concept name with slash": ({"concepts.my/toy": {"images": str(DEMO_DOG), "class": "dog"}},
                                ["concepts:", "'my/toy'", *_NAME_RULE]),
    "concept name with space": ({"concepts.my toy": {"images": str(DEMO_DOG), "class": "dog"}},
                                ["concepts:", "'my toy'", *_NAME_RULE]),
    "one image per prompt for FID": ({"generation.num_images": 1}, ["generation.num_images", "at least 2"]),
    "unknown metric": ({"metrics": ["image_similarity_clip", "image_lpips"]}, ["metrics", "image_lpips"]),
    "unknown extractor": ({"extractors.lpips": "builtin:world"}, ["extractors", "lpips"]),
    "prompt without {c}": ({"prompts.context": ["a photo of {c} in a forest", "a photo in a city"]},
                           ["prompts.context", "{c}", "prompts.context.1", "'a photo in a city'", "must contain {c}",
                            "a photo of {c} in a forest"]),
    "image prompt without {c}": ({"prompts.image": "a photo"}, ["prompts.image", "must contain {c}"]),
    "prompt listed twice": ({"prompts.context": ["a photo of {c} in a forest"] * 2}, ["prompts.context", "twice"]),
    "prompt listed twice for a kind": ({"prompts.context": {"object": ["a photo of {c} in a forest"] * 2,
                                                            "live": ["a photo of {c} in a forest"]}},
                                       ["prompts.context.object", "twice"]),
    "prompts for an unknown kind": ({"prompts.context": {"object": ["a photo of {c}"], "pets": ["a photo of {c}"]}},
                                    ["prompts.context", "pets"]),
    "no prompts for a concept's kind": ({"prompts.context": {"object": ["a photo of {c} in a forest"]}},
                                        ["prompts.context", "'live'", "good_dog", "live:"]),
    "training seed listed twice": ({"seeds": [0, 1, 1]}, ["seeds", "non-unique"]),
    "negative training seed": ({"seeds": [-1]}, ["seeds"]),
    "eval step past the last step": ({"methods.lora.eval_steps": [150, 300]}, ["methods.lora", "eval_steps [300]"]),
    # The memory and loss options (conceptbench/methods/memory.py, diffusion/families/noise_prediction.py).
    "negative snr_gamma": ({"methods.lora.snr_gamma": -5.0},
                           ["methods.lora.snr_gamma", "-5.0 is less than or equal to the minimum of 0",
                            "must be a positive number (5.0", "or null for no weighting"]),
    "zero snr_gamma": ({"methods.dreambooth.snr_gamma": 0}, ["methods.dreambooth.snr_gamma", "positive number"]),
    "negative noise_offset": ({"methods.lora.noise_offset": -0.1},
                              ["methods.lora.noise_offset", "less than the minimum of 0", "from 0 (none) to 1"]),
    "unknown optimizer": ({"methods.lora.optimizer": "adam8"},
                          ["methods.lora.optimizer", "'adam8' is not one of ['adamw', 'adamw8bit']",
                           "pip install -e '.[adamw8bit]'"]),
    "unknown frozen_dtype": ({"methods.lora.frozen_dtype": "fp16"},
                             ["methods.lora.frozen_dtype", "'fp16' is not one of ['float32', 'compute']"]),
    "frozen modules in the compute dtype without mixed precision": (
        {"methods.lora.frozen_dtype": "compute", "methods.lora.mixed_precision": "no"},
        ["methods.lora:", "frozen_dtype compute", "mixed_precision is no", "set mixed_precision: fp16 or bf16, or "
         "frozen_dtype: float32"]),
    "gradient_checkpointing not a boolean": ({"methods.lora.gradient_checkpointing": "yes please"},
                                             ["methods.lora.gradient_checkpointing", "not of type 'boolean'"]),
    "resources of a misspelt rule": ({"resources.trian": {"runtime": 60}}, ["resources.trian", "no rule"]),
    "unknown resource": ({"resources.train": {"cpus": 4}}, ["resources.train", "cpus"]),
    "bootstrap_samples, no longer a setting": ({"bootstrap_samples": 1000}, ["bootstrap_samples", "unexpected"]),
    # Whole numbers written as floats would pass JSON Schema's `integer` and crash a job after Snakemake deleted the
    # old output; counts have an upper bound; PyYAML reads 7e-3 as text.
    "resolution written as a float": ({"resolution": 32.0}, ["resolution", "32.0 is not of type 'integer'",
                                                            "(32, not 32.0)"]),
    "steps written as a float": ({"methods.lora.steps": 100.0}, ["methods.lora.steps", "(100, not 100.0)"]),
    "a fractional count": ({"generation.num_images": 2.5}, ["generation.num_images", "must be a whole number"]),
    "a count past its bound": ({"generation.num_images": 10**9}, ["generation.num_images", "maximum of 1000000"]),
    "images per prompt kind without context": ({"generation.num_images": {"plain": 25}},
                                               ["generation.num_images", "'context' is a required property"]),
    "a fractional plain count": ({"generation.num_images": {"plain": 2.5, "context": 5}},
                                 ["generation.num_images.plain", "must be a whole number"]),
    "more snapshot images than final ones": ({"generation.snapshot_images": {"plain": 9, "context": 1}},
                                             ["generation.snapshot_images", "more images of the plain prompt(s)",
                                              "lower snapshot_images"]),
    "a fractional snapshot count": ({"generation.snapshot_images": 1.5},
                                    ["generation.snapshot_images", "must be a whole number"]),
    "a resolution past its bound": ({"resolution": 8192}, ["resolution", "maximum of 4096"]),
    "an exponent without a decimal point": ({"methods.lora.learning_rate": "7e-3"},
                                            ["methods.lora.learning_rate", "'7e-3'", "write 7.0e-3"]),
    "unknown error bars": ({"plots.error_bars": "iqr"}, ["plots.error_bars"]),
    "unknown device": ({"device": "tpu"}, ["device"]),
    "zero GPUs": ({"gpus": 0}, ["gpus", "minimum of 1"]),
    "GPUs written as a float": ({"gpus": 2.0}, ["gpus", "(2, not 2.0)"]),
    "unknown baseline phrase": ({"generation.baseline_phrase": "none"}, ["generation.baseline_phrase"]),
    "unknown scheduler": ({"generation.scheduler": "euler_magic"}, ["generation.scheduler"]),
    "missing local base model": ({"base_model": "./models/my-sd15"}, ["base_model", "models/my-sd15", "does not exist"]),
    "missing absolute base model": ({"base_model": "/no/such/sd15"}, ["base_model", "/no/such/sd15"]),
    "missing extractor folder": ({"extractors.clip": "models/clip/vit-b32"}, ["extractors.clip", "does not exist"]),
    "missing inception weights": ({"extractors.inception": "pt_inception.safetensors"},
                                  ["extractors.inception", "pt_inception.safetensors"]),
    "unknown builtin model": ({"base_model": "builtin:huge"}, ["base_model", "builtin:huge", "builtin:world"]),
    "oracle that is not the world's": ({"extractors.oracle": "builtin:tiny"}, ["extractors.oracle", "builtin:world"]),
}


@pytest.mark.parametrize("case", SETTING_CASES, ids=str)
def test_a_bad_setting_names_its_key(tmp_path, case):
    changes, parts = SETTING_CASES[case]
    raw = base_config(tmp_path)
    for key, value in changes.items():
        _set(raw, key, value)
    assert_names(message_of(tmp_path, raw), *parts)


@pytest.mark.parametrize("installed, missing_part", [
    (None, "adamw8bit needs bitsandbytes, which is not installed"),
    ("0.45.5", "adamw8bit needs bitsandbytes 0.50 or newer (its CPU support and state layout), not 0.45.5"),
])
def test_adamw8bit_without_a_usable_bitsandbytes_is_refused(tmp_path, monkeypatch, installed, missing_part):
    # bitsandbytes is an optional extra: whether it is here is this environment's, so the test sets it.
    from conceptbench.methods import extras

    monkeypatch.setattr(extras, "_installed_version", lambda name: installed)
    raw = base_config(tmp_path)
    raw["methods"]["lora"]["optimizer"] = "adamw8bit"
    assert_names(message_of(tmp_path, raw), "methods.lora.optimizer:", missing_part,
                 "pip install 'bitsandbytes>=0.50,<1' (or pip install -e '.[adamw8bit]'), or use optimizer: adamw")
    monkeypatch.setattr(extras, "_installed_version", lambda name: "0.50.2")
    assert load_config_file(write_config_file(tmp_path, raw), tmp_path)["_methods"]["lora"]["optimizer"] == "adamw8bit"


def test_a_hub_id_is_checked_for_form_only(tmp_path):
    # No network at start-up: an id of the right form passes; whether it exists is known at the first download.
    raw = base_config(tmp_path)
    raw["base_model"] = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    raw["extractors"]["clip"] = "openai/clip-vit-base-patch32"
    load_config_file(write_config_file(tmp_path, raw), tmp_path)


def test_every_schema_problem_is_reported_at_once(tmp_path):
    # The schema's problems are listed together (and alone: the checks below assume the schema's types).
    raw = base_config(tmp_path)
    raw["methods"]["lora"]["steps"] = 0
    raw["prompts"]["image"] = "a photo"
    assert_names(message_of(tmp_path, raw), "methods.lora.steps", "prompts.image")


def test_every_problem_is_reported_at_once(tmp_path):
    raw = base_config(tmp_path)
    raw["resolution"] = 36
    raw["resources"] = {"trian": {"runtime": 5}}
    raw["base_model"] = "./nowhere"
    concept(tmp_path / "concepts" / "two_photos", n_photos=2)
    message = message_of(tmp_path, raw)
    assert_names(message, "resolution", "resources.trian", "base_model", "two_photos")


# ---- --config values: Snakemake's own reading of them, then the workflow's (rules/common.smk) ----------------------


def _command_line(tmp_path: Path, *entries: str) -> tuple[dict, dict]:
    """(the --config values as Snakemake gives them, the config the workflow checks with them) for `entries`."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    given = parse_config(list(entries))
    raw = base_config(tmp_path)
    update_config(raw, given)
    update_config(raw, command_line_values(given))
    return given, raw


def test_nested_command_line_values_are_read_as_yaml(tmp_path):
    given, raw = _command_line(tmp_path, "generation={guidance_scale: 0}", "prior={num_images: 4, seed: 7}",
                               "methods={lora: {learning_rate: 7.0e-3, mixed_precision: no}}", "seeds=[0, 1]")
    assert given["generation"] == {"guidance_scale": "0"}  # what Snakemake hands over: text
    config = validate_config(raw, tmp_path)
    assert config["generation"]["guidance_scale"] == 0 and config["prior"]["num_images"] == 4
    assert isinstance(config["prior"]["num_images"], int) and config["prior"]["seed"] == 7
    assert config["_methods"]["lora"]["learning_rate"] == 7e-3 and config["seeds"] == [0, 1]
    assert config["_methods"]["lora"]["mixed_precision"] == "no"  # YAML 1.1 would read False; quotes cannot help


def test_a_bad_command_line_value_is_still_refused_and_named_as_one(tmp_path):
    given, raw = _command_line(tmp_path, "generation={guidance_scale: fast, num_images: 2.5}")
    message = problem_header(["config.yaml"], given) + "\n" + message_of(tmp_path, raw)
    assert_names(message, "fix it in config.yaml, or the --config values ['generation']",
                 "generation.guidance_scale: 'fast' is not of type 'number'", "generation.num_images",
                 "must be a whole number")


# ---- prompts that do not fit the base model's text encoder ---------------------------------------------------------


def _prompt_of(tokens: int) -> str:
    """A prompt of `tokens` tokens besides {c} on the tiny models' tokenizer, which reads each character as one."""
    return "{c} " + "y" * tokens


def _sdxl_folder(folder: Path, second_limit: int) -> Path:
    """A local SDXL pipeline folder, as far as start-up reads it: model_index.json and the two tokenizers, the second
    reading `second_limit` tokens."""
    import json

    from conceptbench.diffusion.tokenizers import write_tiny_tokenizer

    index = {"_class_name": "StableDiffusionXLPipeline", "tokenizer": ["transformers", "CLIPTokenizer"],
             "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"]}
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(index))
    for name in ("tokenizer", "tokenizer_2"):
        write_tiny_tokenizer(folder / name)
    settings = folder / "tokenizer_2" / "tokenizer_config.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "model_max_length": second_limit}))
    return folder


@pytest.mark.parametrize("base_model", ["builtin:tiny", "builtin:tiny-xl"])
def test_a_prompt_longer_than_the_text_encoder_reads_is_refused(tmp_path, base_model):
    raw = base_config(tmp_path)
    raw["base_model"] = base_model
    raw["prompts"]["context"] = ["a photo of {c} in a forest", _prompt_of(70)]
    message = message_of(tmp_path, raw)
    # 'sks dog' (DreamBooth, LoRA) is 6 tokens: 6 + 70 + start and end = 78, one more than CLIP's 77.
    assert_names(message, "prompts.context.1: '{c} yyy", "is 78 tokens (start and end included)",
                 "with 'sks dog' for {c} (dreambooth on good_dog, lora on good_dog)", f"base_model {base_model}'s",
                 "reads 77", "model_max_length", "Shorten the prompt")
    # Textual Inversion's placeholder will be one token (73 in all), the base model's 'dog' three (75): they fit.
    assert "<good_dog>" not in message and "'dog'" not in message and "prompts.context.0" not in message


def test_a_placeholder_counts_as_the_one_token_it_will_be(tmp_path):
    # '<good_dog>' is 10 characters, so 10 tokens of the tiny tokenizer today; training adds it as one.
    raw = base_config(tmp_path)
    raw["base_model"] = "builtin:tiny"
    raw["methods"] = {"textual_inversion": raw["methods"]["textual_inversion"]}
    raw["generation"]["baseline_phrase"] = "empty"  # the base model's prompt: no phrase for {c}
    forest = "a photo of {c} in a forest"  # a world context (the oracle metrics ask for one)
    raw["prompts"]["context"] = [forest, _prompt_of(74)]  # 1 + 74 + start and end: exactly the 77 the encoder reads
    load_config_file(write_config_file(tmp_path, raw), tmp_path)
    raw["prompts"]["context"] = [forest, _prompt_of(75)]
    assert_names(message_of(tmp_path, raw), "prompts.context.1", "is 78 tokens", "'<good_dog>' for {c}",
                 "textual_inversion on good_dog")


def test_every_tokenizer_of_an_sdxl_model_is_checked(tmp_path):
    raw = base_config(tmp_path)
    raw["base_model"] = str(_sdxl_folder(tmp_path / "my-sdxl", second_limit=64))
    raw["prompts"]["context"] = ["a photo of {c} in a forest", _prompt_of(60)]  # 68 tokens with 'sks dog'
    assert_names(message_of(tmp_path, raw), "prompts.context.1", "is 68 tokens", "reads 64",
                 "tokenizer_2's model_max_length")


def test_a_long_prompt_on_the_world_model_is_refused(tmp_path):
    raw = base_config(tmp_path)
    raw["prompts"]["image"] = "a photo of {c}" + " in a forest" * 30
    assert_names(message_of(tmp_path, raw), "prompts.image: 'a photo of {c} in a forest in", "base_model builtin:world",
                 "reads 77", "Shorten the prompt")


def test_a_hub_model_in_the_local_cache_has_its_prompts_checked(tmp_path, monkeypatch):
    import huggingface_hub.constants

    # The cache's layout: models--owner--name/refs/main names the snapshot the files are in.
    repo = tmp_path / "hub" / "models--someone--tiny-sdxl"
    _sdxl_folder(repo / "snapshots" / "0123abc", second_limit=64)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    raw = base_config(tmp_path)
    raw["base_model"] = "someone/tiny-sdxl"
    raw["prompts"]["context"] = ["a photo of {c} in a forest", _prompt_of(60)]
    assert_names(message_of(tmp_path, raw), "prompts.context.1", "base_model someone/tiny-sdxl's", "reads 64")


def test_prompt_lengths_of_a_hub_model_not_downloaded_yet_are_left_to_its_jobs(tmp_path, monkeypatch, caplog):
    import logging

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    raw = base_config(tmp_path)
    raw["base_model"] = "someone/not-downloaded"
    raw["prompts"]["context"] = ["a photo of {c} in a forest", _prompt_of(200)]
    with caplog.at_level(logging.INFO, logger="conceptbench.config.checks"):
        load_config_file(write_config_file(tmp_path, raw), tmp_path)  # nothing downloaded, nothing refused
    assert_names(caplog.text, "prompt lengths not checked at start-up", "someone/not-downloaded",
                 "Hugging Face cache")


def test_a_flux_model_refuses_each_method_sampler_and_size_that_does_not_apply(tmp_path, monkeypatch):
    """On FLUX.1, start-up names every method entry that does not apply with the reason, a noise-prediction sampler
    and an image side that is no multiple of 16, for builtin:tiny-flux and a FLUX.1 hub model alike; left out, the
    sampler is FLUX.1's own."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--someone--flux"
    (repo / "snapshots" / "0123abc").mkdir(parents=True)
    (repo / "snapshots" / "0123abc" / "model_index.json").write_text('{"_class_name": "FluxPipeline"}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for index, base_model in enumerate(("builtin:tiny-flux", "someone/flux")):
        work = tmp_path / f"run{index}"
        raw = base_config(work)
        raw["base_model"] = base_model
        raw["resolution"] = 40
        raw["generation"]["scheduler"] = "ddim"
        raw["methods"]["my_ti"] = {"type": "textual_inversion"}
        raw["methods"]["my_cd"] = {"type": "custom_diffusion"}
        message = message_of(work, raw)
        assert_names(message, "methods.dreambooth: dreambooth is refused on FLUX.1", "use lora",
                     "methods.my_cd: custom_diffusion is refused on FLUX.1", "joint-attention transformer",
                     "generation.scheduler: ddim does not sample FLUX.1 models", "use one of flow_match_euler",
                     "resolution: 40 is not a multiple of 16", "packed 2x2", "32 or 48")
        # LoRA and Textual Inversion apply (a token in CLIP-L and T5); the model runs
        assert "methods.lora" not in message and "methods.my_ti" not in message and "base_model" not in message

        raw["resolution"] = 32
        del raw["generation"]["scheduler"]
        raw["methods"] = {"lora": raw["methods"]["lora"]}
        config = load_config_file(write_config_file(work, raw), work)
        assert config["generation"]["scheduler"] == "flow_match_euler"


def test_a_qwen_image_model_refuses_one_sampler_step_for_generations_and_class_images(tmp_path):
    """Qwen-Image's scheduler samples at a NaN timestep at 1 step (test_qwen_image.py shows it): start-up refuses
    generation.steps and prior.steps of 1 by name; 2 steps load, and SD models take 1."""
    raw = base_config(tmp_path)
    raw["base_model"] = "builtin:tiny-qwen-image"
    raw["methods"] = {"lora": raw["methods"]["lora"]}
    raw["generation"].pop("scheduler", None)  # each family's own
    raw["generation"]["steps"] = 1
    raw["prior"] = {"steps": 1}
    assert_names(message_of(tmp_path, raw), "generation.steps: 1 is too few steps for Qwen-Image models",
                 "prior.steps: 1 is too few", "NaN timestep", "use 2 or more")
    raw["generation"]["steps"] = raw["prior"]["steps"] = 2
    assert load_config_file(write_config_file(tmp_path, raw), tmp_path)["generation"]["steps"] == 2
    raw["base_model"] = "builtin:tiny"
    raw["generation"]["steps"] = raw["prior"]["steps"] = 1
    assert load_config_file(write_config_file(tmp_path, raw), tmp_path)["prior"]["steps"] == 1


def test_an_sd_model_left_without_a_sampler_samples_with_ddim(tmp_path):
    raw = base_config(tmp_path)
    raw["base_model"] = "builtin:tiny"
    raw["generation"].pop("scheduler", None)
    assert load_config_file(write_config_file(tmp_path, raw), tmp_path)["generation"]["scheduler"] == "ddim"


def test_a_flow_matching_setting_on_an_sd_model_is_refused(tmp_path):
    raw = base_config(tmp_path)
    raw["base_model"] = "builtin:tiny"
    raw["methods"]["lora"]["weighting_scheme"] = "logit_normal"
    assert_names(message_of(tmp_path, raw), "methods.lora", "no setting(s) ['weighting_scheme']",
                 "settings of FLUX.1, FLUX.2 [klein] and Qwen-Image, not of SD-1.x (the base model's family)")


def test_a_pipeline_of_no_family_is_refused_by_name(tmp_path):
    folder = tmp_path / "sd3"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusion3Pipeline"}')
    raw = base_config(tmp_path)
    raw["base_model"] = str(folder)
    assert_names(message_of(tmp_path, raw), "base_model:",
                 "is a StableDiffusion3Pipeline; conceptbench runs Flux2KleinPipeline, FluxPipeline, "
                 "QwenImagePipeline, StableDiffusionPipeline and StableDiffusionXLPipeline models")


# ---- concept folders and photos ---------------------------------------------------------------------------------


def _text_as_jpeg(folder: Path) -> str:
    (folder / "05.jpg").write_text("not an image at all")
    return "05.jpg"


def _huge_header(folder: Path) -> str:
    # A valid PNG header that claims 20000 x 20000 pixels: refused from the header, before decoding.
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    (folder / "05.png").write_bytes(png)
    return "05.png"


PHOTO_CASES = {
    "corrupt photo": (corrupt_photo, ["cannot read this image"]),
    "text file named .jpg": (_text_as_jpeg, ["cannot read this image"]),
    "decompression bomb": (_huge_header, ["pixels", "downscale"]),
}


@pytest.mark.parametrize("case", PHOTO_CASES, ids=str)
def test_an_unreadable_photo_is_named_at_start_up(tmp_path, case):
    make, parts = PHOTO_CASES[case]
    raw = base_config(tmp_path)
    name = make(tmp_path / "concepts" / "good_dog")
    assert_names(message_of(tmp_path, raw), "concepts_dir", str(tmp_path / "concepts" / "good_dog" / name), *parts)


FOLDER_CASES = {
    "no concept.yaml": (dict(meta=None), ["concept.yaml", "bad_one"]),
    "class is a number": (dict(meta="class: 42\nkind: object\n"), ["'class'", "quote it"]),
    "misspelt concept.yaml key": (dict(meta="clas: dog\nkind: object\n"), ["unknown key", "clas"]),
    "unknown kind": (dict(meta="class: dog\nkind: animal\n"), ["'kind'", "object, live"]),
    "concept.yaml not YAML": (dict(meta="class: [dog\n"), ["concept.yaml", "not valid YAML"]),
    "no photos": (dict(n_photos=0), ["bad_one", "no images found", "add 3-10 photos"]),
    "two photos": (dict(n_photos=2), ["bad_one", "only 2 image(s)", "at least 3"]),
    "eleven photos": (dict(n_photos=11), ["bad_one", "11 images", "at most 10", "move the extra"]),
}


@pytest.mark.parametrize("case", FOLDER_CASES, ids=str)
def test_a_bad_concept_folder_is_named(tmp_path, case):
    kwargs, parts = FOLDER_CASES[case]
    raw = base_config(tmp_path)
    folder = concept(tmp_path / "concepts" / "bad_one", **kwargs)
    assert_names(message_of(tmp_path, raw), "concepts_dir", str(folder), *parts)


def test_a_concept_folder_name_with_a_space_is_refused(tmp_path):
    raw = base_config(tmp_path)
    concept(tmp_path / "concepts" / "my dog")
    assert_names(message_of(tmp_path, raw), "'my dog'", "not allowed", "Rename the folder")


def test_a_missing_concepts_dir_is_named(tmp_path):
    raw = base_config(tmp_path)
    raw["concepts_dir"] = "no_such_folder"
    assert_names(message_of(tmp_path, raw), "concepts_dir", "no_such_folder", "does not exist", "concepts_dir:",
                 "check the path")


def _notes_only(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("not a photo")


LISTED_FOLDER_CASES = {
    "missing folder": (None, ["photos/toy", "does not exist", "point it at a folder of 3-10 photos"]),
    "folder without photos": (_notes_only, ["photos/toy", "no images found", "add 3-10 photos"]),
}


@pytest.mark.parametrize("case", LISTED_FOLDER_CASES, ids=str)
def test_a_listed_concept_with_a_bad_folder_is_named(tmp_path, case):
    make, parts = LISTED_FOLDER_CASES[case]
    raw = base_config(tmp_path)
    if make is not None:
        make(tmp_path / "photos" / "toy")
    raw["concepts"] = {"toy": {"images": "photos/toy", "class": "toy robot"}}
    assert_names(message_of(tmp_path, raw), "concepts.toy.images", *parts)


def test_a_missing_data_set_of_listed_concepts_is_named_once(tmp_path):
    """DreamBench's preset without its photos: one line for the missing folder, not one per subject."""
    raw = base_config(tmp_path)
    raw["concepts"] = {name: {"images": f"dreambench/dataset/{name}", "class": "dog"} for name in ("dog2", "dog3")}
    message = message_of(tmp_path, raw)
    assert_names(message, "concepts (dog2, dog3): images", str(tmp_path / "dreambench" / "dataset"),
                 "does not exist, so neither does any concept folder in it")
    assert message.count("does not exist") == 1


def test_an_unreadable_inception_weights_file_is_named_at_start_up(tmp_path):
    """An empty or truncated .safetensors file exists, but would fail in the first features job ("header too
    small"): start-up reads its header."""
    raw = base_config(tmp_path)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    raw["extractors"]["inception"] = "empty.safetensors"
    assert_names(message_of(tmp_path, raw), "extractors.inception", "empty.safetensors",
                 "is not a readable .safetensors file", "`inception: pytorch-fid` fetches the standard ones")


def test_concept_paths_expand_the_home_folder_like_model_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    concept(tmp_path / "home" / "photos" / "toy")
    concept(tmp_path / "home" / "more" / "dog2")
    raw = base_config(tmp_path)
    raw["concepts_dir"] = "~/more"
    raw["concepts"] = {"toy": {"images": "~/photos/toy", "class": "toy robot"}}
    concepts = load_config_file(write_config_file(tmp_path, raw), tmp_path)["_concepts"]
    assert concepts["toy"].folder == tmp_path / "home" / "photos" / "toy"
    assert concepts["dog2"].folder == tmp_path / "home" / "more" / "dog2"


def test_a_concept_in_both_places_is_refused(tmp_path):
    raw = base_config(tmp_path)
    raw["concepts"] = {"good_dog": {"images": "concepts/good_dog", "class": "dog"}}
    assert_names(message_of(tmp_path, raw), "concepts.good_dog", "also in concepts_dir", "rename")


def test_class_nouns_that_share_a_folder_name_are_refused(tmp_path):
    # 'stuffed animal' and 'stuffed-animal' would share class images and baselines under stuffed_animal/.
    raw = base_config(tmp_path)
    raw["metrics"] = ["image_similarity_clip", "prompt_similarity_clip"]  # not the world-only oracle metrics
    concept(tmp_path / "concepts" / "bear", meta="class: stuffed animal\nkind: object\n")
    concept(tmp_path / "concepts" / "bunny", meta="class: stuffed-animal\nkind: object\n")
    assert_names(message_of(tmp_path, raw), "'stuffed animal'", "'stuffed-animal'", "stuffed_animal")


def test_oracle_metrics_need_world_classes(tmp_path):
    raw = base_config(tmp_path)
    concept(tmp_path / "concepts" / "bear", meta="class: teddy bear\nkind: object\n")
    assert_names(message_of(tmp_path, raw), "metrics", "class_accuracy_oracle", "'bear'", "teddy bear")


# ---- GPUs of a local run: checked in rules/common.smk, where the executor is known (a cluster's jobs get theirs
# from the cluster, so a login node's GPUs say nothing) -------------------------------------------------------------


def _gpu_check(tmp_path: Path, changes: dict, visible: str, limit: int | None, dry_run: bool = False):
    """(problems, warnings) of the good config with `changes`, on a machine whose GPUs CUDA_VISIBLE_DEVICES names,
    under Snakemake's gpu limit `limit`."""
    from conceptbench.config.checks import local_gpu_problems
    from conceptbench.gpus import visible_devices

    if not (tmp_path / "config.yaml").exists():  # one good config per test, checked once
        write_config_file(tmp_path, base_config(tmp_path))
    config = {**load_config_file(tmp_path / "config.yaml", tmp_path), **changes}
    return local_gpu_problems(config, visible_devices({"CUDA_VISIBLE_DEVICES": visible}), limit, dry_run)


def test_more_gpus_asked_than_exist_is_refused(tmp_path):
    problems, _ = _gpu_check(tmp_path, {"gpus": 4}, "0,1", 4, dry_run=True)  # a dry run plans on this machine too
    assert problems == ["gpus: 4, but this machine has 2 GPU(s) (CUDA_VISIBLE_DEVICES=0,1); set gpus: 2 or fewer, "
                        "or leave it out to use every visible GPU"]
    assert _gpu_check(tmp_path, {"gpus": 2}, "0,1", 2) == ([], [])


def test_a_local_cuda_run_on_a_machine_without_gpus_is_refused(tmp_path):
    problems, _ = _gpu_check(tmp_path, {"device": "cuda"}, "", 1)
    assert_names(problems[0], "device: cuda, but this machine has no GPU", "--profile profiles/slurm")
    assert _gpu_check(tmp_path, {"device": "cuda"}, "", 1, dry_run=True) == ([], [])  # planning on a laptop is fine
    assert _gpu_check(tmp_path, {"device": "auto"}, "", 1) == ([], [])


@pytest.mark.parametrize("limit, visible, gpus, parts", [
    (1, "0,1,2,3", None, ["gpu limit is 1", "4 GPU(s) (CUDA_VISIBLE_DEVICES=0,1,2,3)", "3 GPU(s) stay idle",
                          "--resources gpu=4", "or set gpus: 1"]),
    (4, "0,1", None, ["gpu limit is 4", "2 GPU(s)", "beyond 2 wait for a free GPU", "--resources gpu=2"]),
    (None, "0,1", None, ["no gpu limit", "2 GPU(s)", "--resources gpu=2"]),
    (1, "0,1", 2, ["gpu limit is 1", "2 GPU(s) (gpus: 2)", "--resources gpu=2"]),
], ids=["fewer than the GPUs", "more than the GPUs", "no limit", "fewer than gpus:"])
def test_a_gpu_limit_that_differs_from_the_gpus_is_said(tmp_path, limit, visible, gpus, parts):
    changes = {"device": "cuda", **({"gpus": gpus} if gpus else {})}
    problems, warnings = _gpu_check(tmp_path, changes, visible, limit)
    assert problems == [] and len(warnings) == 1
    assert_names(warnings[0], *parts)
    assert _gpu_check(tmp_path, changes, visible, len(visible.split(",")) if gpus is None else gpus) == ([], [])


# ---- allowed, but said: warnings, and the formats that load ------------------------------------------------------


def _warnings(tmp_path: Path, raw: dict) -> list[str]:
    said = []
    validate_config(raw, tmp_path, warn=said.append)
    return said


def test_a_tiny_photo_loads_with_a_warning(tmp_path):
    from PIL import Image

    raw = base_config(tmp_path)
    Image.new("RGB", (1, 1), (0, 0, 255)).save(tmp_path / "concepts" / "good_dog" / "05.png")
    said = _warnings(tmp_path, raw)
    assert len(said) == 1 and "05.png" in said[0] and "1x1" in said[0] and "far below" in said[0]


def test_files_that_are_not_images_are_listed_as_ignored(tmp_path):
    raw = base_config(tmp_path)
    (tmp_path / "concepts" / "good_dog" / "notes.txt").write_text("my dog's photos")
    (tmp_path / "concepts" / "good_dog" / "raw.heic").write_bytes(b"\0" * 16)
    said = _warnings(tmp_path, raw)
    assert len(said) == 1 and "notes.txt" in said[0] and "raw.heic" in said[0] and "ignored" in said[0]


def test_tiff_and_gif_photos_are_used(tmp_path):
    from PIL import Image

    from conceptbench.inputs.concepts import load_concept_images

    raw = base_config(tmp_path)
    folder = tmp_path / "concepts" / "good_dog"
    Image.open(folder / "00.png").save(folder / "05.tif")
    Image.open(folder / "01.png").convert("P").save(folder / "06.gif")
    images = load_concept_images(folder, 32)
    assert len(images) == 7 and all(image.size == (32, 32) and image.mode == "RGB" for image in images)
    assert _warnings(tmp_path, raw) == []
