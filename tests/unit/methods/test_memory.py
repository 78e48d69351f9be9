"""The memory options (conceptbench/methods/memory.py): gradient checkpointing recomputes and changes no weight;
`frozen_dtype: compute` stores what does not train in the compute dtype (half the bytes) and keeps the trained
parameters float32; metadata.json says what was used, a CPU's fp16 included; the 8-bit optimizer's state survives
the loop's saving."""

import json

import pytest
import torch
from safetensors.torch import load_file

from conceptbench.diffusion.pipelines import load_pipeline, text_encoders
from conceptbench.methods import get_method, method_params
from conceptbench.methods.job import train_concept, training_config
from conceptbench.methods.memory import FrozenStore, frozen_parameters, parameter_bytes
from conceptbench.methods.training import run_training

STEPS = 4


def _train_in_process(tiny_model, dog_targets, tmp_path, method_type, **overrides):
    """Train with run_training on a fresh pipeline; returns (trained tensors, forward calls of a UNet attention and of
    a text encoder MLP)."""
    from conceptbench.methods.job import read_image_folder

    params = method_params({"type": method_type, "steps": STEPS, "checkpoint_every": 0, "learning_rate": 1e-2,
                            "prior_preservation": False, **overrides})
    pipe = load_pipeline(tiny_model)
    setup = get_method(method_type).prepare(pipe, "blue_dog", "dog", params)
    calls = {"unet": 0, "text": 0}

    def count(name):  # before forward: a recomputation may stop early, once it has what the backward pass needs
        def hook(*_):
            calls[name] += 1
        return hook

    # Modules inside a checkpointed block (transformers 5 checkpoints a layer's forward, not its hooks) on the path
    # of the gradients: the first self-attention (LoRA adapts it), the first text encoder layer's MLP.
    pipe.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.register_forward_pre_hook(count("unet"))
    mlp = next(m for n, m in pipe.text_encoder.named_modules() if n.endswith("encoder.layers.0.mlp"))
    mlp.register_forward_pre_hook(count("text"))
    run_training(pipe, setup, training_config(params), read_image_folder(dog_targets), None,
                 state_dir=tmp_path / "state", run_id="test", log=lambda *_: None, progress=False, device="cpu")
    return {name: p.detach().clone() for name, p in setup.trainable.items()}, calls


@pytest.mark.parametrize("method_type, overrides", [("dreambooth", {"train_text_encoder": True}),
                                                     ("lora", {"train_text_encoder": True})],
                         ids=["dreambooth_unet_and_text_encoder", "lora_adapters_in_frozen_layers"])
def test_gradient_checkpointing_recomputes_and_gives_the_same_weights(tmp_path, tiny_model, dog_targets,
                                                                     method_type, overrides):
    plain, plain_calls = _train_in_process(tiny_model, dog_targets, tmp_path / "a", method_type, **overrides)
    checkpointed, calls = _train_in_process(tiny_model, dog_targets, tmp_path / "b", method_type,
                                            gradient_checkpointing=True, **overrides)
    # It is on: each checkpointed block runs twice a step (forward, and again in the backward pass), in the UNet and
    # in the text encoder that trains.
    assert plain_calls == {"unet": STEPS, "text": STEPS}
    assert calls == {"unet": 2 * STEPS, "text": 2 * STEPS}
    # The same operations on the same numbers: float32 on a CPU gives the same weights after 4 steps, bit for bit
    # (tolerance 0). Recomputation repeats the forward exactly; nothing is summed in another order.
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        assert torch.equal(plain[name], checkpointed[name]), name


def _frozen_and_trained(pipe, setup):
    modules = [pipe.unet, pipe.vae, *(encoder for _, _, encoder in text_encoders(pipe))]
    return modules, list(setup.trainable.values())


@pytest.mark.parametrize("method_type", ["lora", "dreambooth", "textual_inversion"])
def test_frozen_parameters_take_the_compute_dtype_and_half_the_bytes(tiny_model, method_type):
    pipe = load_pipeline(tiny_model)
    params = method_params({"type": method_type, "mixed_precision": "bf16", "frozen_dtype": "compute"})
    setup = get_method(method_type).prepare(pipe, "blue_dog", "dog", params)
    modules, trained = _frozen_and_trained(pipe, setup)
    trained_before = {id(p): p.detach().clone() for p in trained}
    frozen = list(frozen_parameters(modules, trained))
    bytes_before = parameter_bytes(frozen)
    everything = {id(p): p for module in modules for p in module.parameters()}

    store = FrozenStore(modules, trained, torch.bfloat16, keep_originals=True)

    assert parameter_bytes(store.params) == bytes_before // 2  # 4 bytes -> 2 per value
    assert all(p.dtype == torch.bfloat16 for p in store.params)
    assert all(p.dtype == torch.float32 and torch.equal(p, trained_before[id(p)]) for p in trained)
    # What is stored in bf16 is exactly what does not train, and the VAE is all of it.
    assert {id(p) for p in store.params} == set(everything) - set(trained_before) - (
        {id(p) for p in pipe.text_encoder.parameters()} if method_type == "textual_inversion" else set())
    assert all(p.dtype == torch.bfloat16 for p in pipe.vae.parameters())
    if method_type == "lora":  # the frozen base weights of an adapted layer too, its adapter not
        layer = pipe.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
        assert layer.base_layer.weight.dtype == torch.bfloat16
        assert layer.lora_A["default"].weight.dtype == torch.float32
    if method_type == "textual_inversion":  # its text encoder stays float32, as in diffusers' textual_inversion.py
        assert all(p.dtype == torch.float32 for p in pipe.text_encoder.parameters())
        assert all(p.dtype == torch.bfloat16 for p in pipe.unet.parameters())

    originals = [p.detach().clone().float() for p in store.originals]
    store.restore()
    assert all(p.dtype == torch.float32 and torch.equal(p, o) for p, o in zip(store.params, originals))
    assert parameter_bytes(store.params) == bytes_before


def _base_vae(tiny_model):
    return load_file(str(next((tiny_model / "vae").glob("*.safetensors"))))


def test_dreambooth_with_frozen_modules_in_bf16_trains_and_saves_them_at_full_precision(tmp_path, tiny_model,
                                                                                      dog_targets):
    params = method_params({"type": "dreambooth", "steps": 3, "checkpoint_every": 0, "learning_rate": 1e-2,
                            "prior_preservation": False, "mixed_precision": "bf16", "frozen_dtype": "compute",
                            "eval_steps": [1]})
    out = tmp_path / "ckpt"
    lines = []
    meta = train_concept(base_model=tiny_model, targets_dir=dog_targets, class_images_dir=None,
                         concept_name="blue_dog", class_noun="dog", method_name="db", params=params, out_dir=out,
                         state_dir=tmp_path / "state", log=lines.append, device="cpu")
    assert meta["mixed_precision"] == "bf16" and meta["frozen_dtype"] == "bfloat16"
    assert meta["attempts"][-1]["frozen_dtype"] == "bfloat16" and "frozen_dtype_note" not in meta
    assert meta["hyperparameters"]["frozen_dtype"] == "compute"
    assert any("frozen tensors stored in bfloat16" in line for line in lines)
    # The artifact's VAE and text encoder are the base model's, float32, bit for bit: the final save and the
    # snapshot's (taken mid-training) both come from the originals kept on the host.
    base = _base_vae(tiny_model)
    for folder in (out, out / "snapshots" / "step1"):
        saved = load_file(str(next((folder / "vae").glob("*.safetensors"))))
        assert saved.keys() == base.keys()
        assert all(saved[k].dtype == torch.float32 and torch.equal(saved[k], base[k]) for k in base)
    unet = load_file(str(next((out / "unet").glob("*.safetensors"))))
    assert all(t.dtype == torch.float32 for t in unet.values())


def test_frozen_dtype_compute_under_fp16_on_a_cpu_is_recorded_as_not_used(tmp_path, tiny_model, dog_targets):
    # A CPU has no float16 autocast: mixed precision is not in effect, so the frozen modules stay float32, and
    # metadata.json says both.
    params = method_params({"type": "lora", "steps": 2, "checkpoint_every": 0, "mixed_precision": "fp16",
                            "frozen_dtype": "compute"})
    meta = train_concept(base_model=tiny_model, targets_dir=dog_targets, class_images_dir=None,
                         concept_name="blue_dog", class_noun="dog", method_name="lora", params=params,
                         out_dir=tmp_path / "ckpt", state_dir=tmp_path / "state", log=lambda *_: None, device="cpu")
    assert meta["mixed_precision"] == "no" and "fp16 requested" in meta["mixed_precision_note"]
    assert meta["frozen_dtype"] == "float32"
    assert meta["frozen_dtype_note"] == ("compute requested, but mixed precision was not in effect on cpu: frozen "
                                         "modules stayed float32")
    assert json.loads((tmp_path / "ckpt" / "metadata.json").read_text())["frozen_dtype"] == "float32"


def test_an_optimizer_state_with_nested_tensors_and_plain_numbers_is_saved_and_restored(tmp_path):
    """bitsandbytes keeps `step` as a Python int and its quantisation state in a nested dict; the loop's state file
    brings both back as they were (with a stand-in optimizer of that layout: bitsandbytes is optional)."""
    from conceptbench.methods.training import TrainingSetup, load_state, save_state

    class NestedState(torch.optim.SGD):
        def state_dict(self):
            sd = super().state_dict()
            sd["state"] = {0: {"step": 7, "quant": {"state1": torch.arange(4, dtype=torch.uint8),
                                                    "absmax1": torch.tensor([0.5])}}}
            return sd

        def load_state_dict(self, state_dict):
            self.loaded = state_dict["state"]

    weight = torch.nn.Parameter(torch.ones(3))
    setup = TrainingSetup(trainable={"w": weight}, instance_prompt="x")
    generator = torch.Generator().manual_seed(0)
    save_state(tmp_path, 5, "run", setup, NestedState([weight], lr=0.1), generator)
    fresh = NestedState([weight], lr=0.1)
    step, _ = load_state(tmp_path, "run", setup, fresh, torch.Generator(), "cpu", log=lambda *_: None)
    assert step == 5
    assert fresh.loaded[0]["step"] == 7 and type(fresh.loaded[0]["step"]) is int
    assert torch.equal(fresh.loaded[0]["quant"]["state1"], torch.arange(4, dtype=torch.uint8))
    assert torch.equal(fresh.loaded[0]["quant"]["absmax1"], torch.tensor([0.5]))
