"""Run names (training seeds, snapshots) and the method and seed of each run's rows."""

import pandas as pd

from conceptbench.runs import RUN_PATTERN, pool_seeds, run_name, snapshot_name, split_name


def test_names_round_trip():
    assert run_name("lora", 0, own_seed=0) == "lora"
    assert run_name("lora", 2, own_seed=0) == "lora@seed2"
    assert split_name("lora@seed2") == ("lora", 2, None)
    assert split_name(snapshot_name("lora@seed2", 50)) == ("lora", 2, 50)
    assert split_name("lora@step50") == ("lora", None, 50)
    assert split_name("reference") == ("reference", None, None)
    import re

    assert re.fullmatch(RUN_PATTERN, "lora@seed2") and re.fullmatch(RUN_PATTERN, "my-lora_2")
    assert not re.fullmatch(RUN_PATTERN, "lora@step50") and not re.fullmatch(RUN_PATTERN, "my/lora")


def test_pool_seeds_names_methods_and_their_seeds():
    table = pd.DataFrame([{"method": m} for m in ["lora", "lora@seed1", "lora@seed1@step50", "lora@step50", "ti",
                                                   "reference"]])
    pooled = pool_seeds(table, {"lora": 0, "ti": 3})
    assert list(pooled["method"]) == ["lora", "lora", "lora@step50", "lora@step50", "ti", "reference"]
    assert list(pooled["seed"]) == [0, 1, 1, 0, 3, 0]


def test_snapshot_folders_and_feature_keys():
    from conceptbench.runs import feature_key, snapshot_folder

    assert snapshot_folder(50) == "snapshots/step50"
    assert (feature_key("plain"), feature_key("ctx_03", 75)) == ("plain", "step75/ctx_03")
