"""Shared fixtures: the tiny base model (built once per test session) and a demo concept's normalised images."""

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items):
    # run_first tests start the SLURM runs in the background, beside the lighter tests that follow (they leave a core
    # idle much of the time); run_last tests check that work at the end of the session.
    def order(item) -> int:
        return 0 if item.get_closest_marker("run_first") else 2 if item.get_closest_marker("run_last") else 1

    items.sort(key=order)  # stable: the order is kept otherwise


@pytest.fixture(autouse=True)
def _fixed_threads():
    # Bitwise comparisons on CPU need the same thread count in every run.
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from conceptbench.models import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def dog_targets(tmp_path_factory) -> Path:
    from conceptbench.concepts import load_concept_images, write_normalised_images

    out = tmp_path_factory.mktemp("targets") / "blue_dog"
    write_normalised_images(load_concept_images(REPO / "data" / "demo" / "blue_dog", 32), out)
    return out


@pytest.fixture(scope="session")
def tiny_xl_model(tmp_path_factory) -> Path:
    from conceptbench.models import build_tiny_xl_pipeline

    return build_tiny_xl_pipeline(tmp_path_factory.mktemp("tiny_xl") / "model")
