"""Run names (training seeds, snapshots) and pooling a method's training seeds for the summaries."""

import numpy as np
import pandas as pd
import pytest

from conceptbench.runs import RUN_PATTERN, method_rows, pool_seeds, run_name, seed_means, snapshot_name, split_name


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


def _rows(method, concept, value, ci=(np.nan, np.nan), metric="image_similarity_clip", n=5):
    return {"concept": concept, "method": method, "metric": metric, "value": value, "n": n,
            "ci_low": ci[0], "ci_high": ci[1]}


def test_seeds_pool_into_one_row_per_concept_with_their_spread():
    table = pd.DataFrame([
        _rows("lora", "dog", 0.50, (0.45, 0.55)), _rows("lora@seed1", "dog", 0.60), _rows("lora@seed2", "dog", 0.70),
        _rows("lora@seed1@step50", "dog", 0.2), _rows("lora@step50", "dog", 0.4),
        _rows("ti", "dog", 0.30, (0.25, 0.35)), _rows("reference", "dog", 0.9),
    ])
    pooled = pool_seeds(table, {"lora": 0, "ti": 3})
    assert list(pooled["method"]) == ["lora", "lora", "lora", "lora@step50", "lora@step50", "ti", "reference"]
    assert list(pooled["seed"]) == [0, 1, 2, 1, 0, 3, 0]
    rows = method_rows(table, {"lora": 0, "ti": 3}).set_index("method")
    assert set(rows.index) == {"lora", "ti", "reference"}  # snapshots left to the trade-off plots
    lora = rows.loc["lora"]
    assert lora["value"] == pytest.approx(0.6) and lora["seeds"] == 3 and lora["n"] == 5
    half = 4.302652729911275 * np.std([0.5, 0.6, 0.7], ddof=1) / np.sqrt(3)  # Student's t, 2 degrees of freedom
    assert (lora["ci_low"], lora["ci_high"]) == pytest.approx((0.6 - half, 0.6 + half))
    # One seed: the row as it was, its own within-concept interval.
    assert (rows.loc["ti", "value"], rows.loc["ti", "ci_low"], rows.loc["ti", "seeds"]) == (0.30, 0.25, 1)
    steps = method_rows(table, {"lora": 0}, snapshots=True).set_index("method")
    assert steps.loc["lora@step50", "value"] == pytest.approx(0.3)


def test_seed_means_interval_covers_the_seed_mean_at_about_the_nominal_rate():
    """Seeds drawn around a true value: the interval holds it ~95% of the time, at 3 seeds as at 30."""
    rng = np.random.default_rng(0)
    hits = {3: 0, 30: 0}
    trials = 2000
    for k in hits:
        for _ in range(trials):
            values = 0.5 + 0.1 * rng.standard_normal(k)
            rows = seed_means(pd.DataFrame([_rows(f"lora@seed{s}", "dog", v) for s, v in enumerate(values)]
                                           ).assign(method="lora", seed=range(k)))
            hits[k] += rows["ci_low"][0] <= 0.5 <= rows["ci_high"][0]
    assert 0.93 <= hits[30] / trials <= 0.97
    assert 0.93 <= hits[3] / trials <= 0.97


def test_snapshot_folders_and_feature_keys():
    from conceptbench.runs import feature_key, snapshot_folder

    assert snapshot_folder(50) == "snapshots/step50"
    assert (feature_key("plain"), feature_key("ctx_03", 75)) == ("plain", "step75/ctx_03")
