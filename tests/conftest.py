"""Shared fixtures: the tiny base model (built once per test session) and a demo concept's normalised images."""

from pathlib import Path

import pytest
import torch
from workflow_helpers import REPO


def pytest_collection_modifyitems(items):
    # run_first tests start the SLURM runs in the background, beside the lighter tests that follow (they leave a core
    # idle much of the time); run_last tests check that work at the end of the session.
    def order(item) -> int:
        return 0 if item.get_closest_marker("run_first") else 2 if item.get_closest_marker("run_last") else 1

    items.sort(key=order)  # stable: the order is kept otherwise


@pytest.fixture(autouse=True)
def _fixed_threads():
    # Bitwise comparisons on CPU need the same thread count in every run. One: on 2 cores it is as fast as two
    # for these small models (an efficacy test: 24.9 s against 25.4 s), and 3.5x faster while another process keeps
    # a core busy (23.7 s against 87.0 s), as the SLURM runs of tests/slurm/test_slurm.py do beside most of the suite.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from conceptbench.diffusion.tiny import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def dog_targets(tmp_path_factory) -> Path:
    from conceptbench.inputs.concepts import load_concept_images, write_normalised_images

    out = tmp_path_factory.mktemp("targets") / "blue_dog"
    write_normalised_images(load_concept_images(REPO / "data" / "demo" / "blue_dog", 32), out)
    return out


@pytest.fixture(scope="session")
def tiny_xl_model(tmp_path_factory) -> Path:
    from conceptbench.diffusion.tiny import build_tiny_xl_pipeline

    return build_tiny_xl_pipeline(tmp_path_factory.mktemp("tiny_xl") / "model")


@pytest.fixture(scope="session")
def tiny_flux_model(tmp_path_factory) -> Path:
    from conceptbench.diffusion.tiny import build_tiny_flux_pipeline

    return build_tiny_flux_pipeline(tmp_path_factory.mktemp("tiny_flux") / "model")


@pytest.fixture(scope="session")
def tiny_klein_model(tmp_path_factory) -> Path:
    from conceptbench.diffusion.tiny import build_tiny_flux2_klein_pipeline

    return build_tiny_flux2_klein_pipeline(tmp_path_factory.mktemp("tiny_klein") / "model")


@pytest.fixture(scope="session")
def tiny_qwen_model(tmp_path_factory) -> Path:
    from conceptbench.diffusion.tiny import build_tiny_qwen_image_pipeline

    return build_tiny_qwen_image_pipeline(tmp_path_factory.mktemp("tiny_qwen") / "model")
