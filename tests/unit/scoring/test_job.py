"""The metrics rule's job (conceptbench.scoring.job) on feature files written like the features rules write them:
its rows are those of the scoring functions on the same features, with the intervals of the same draws."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conceptbench.scoring.feature_files import save_features
from conceptbench.scoring.job import ROW_COLUMNS, SCORE_COLUMNS, score_concept, write_tables
from conceptbench.scoring.replicates import concept_method_replicates, reference_replicates
from conceptbench.scoring.rows import concept_method_metrics, per_image_scores, reference_metrics
from conceptbench.scoring.uncertainty import draw_rows, with_intervals

EXTRACTORS = ["clip", "inception"]
PROMPTS = ["ctx_a", "ctx_b"]
METRICS = ["image_similarity_clip", "prompt_similarity_clip", "image_kid_inception", "prompt_fid_inception",
           "text_alignment_clip"]
SAMPLES = 200


def _extractor(kind):
    return SimpleNamespace(kind=kind, source=f"test:{kind}", random_weights=False, labels=None)


@pytest.fixture
def files(tmp_path):
    """Feature files of one concept: targets, the class's baselines (two halves), a run with a snapshot, text."""
    rng = np.random.default_rng(4)
    dims = {"clip": 6, "inception": 8}
    out = {"targets": [], "baselines": [], "images": [], "feats": {}}
    for kind in EXTRACTORS:
        d = dims[kind]
        groups = {
            "targets": {"targets": rng.normal(size=(4, d))},
            "baselines": {f"{pid}/{h}": rng.normal(size=(3, d)) for pid in ["plain", *PROMPTS] for h in "ab"},
            "images": {key: rng.normal(0.2, 1.0, size=(3, d))
                       for pid in ["plain", *PROMPTS] for key in (pid, f"step5/{pid}")},
        }
        for group, features in groups.items():
            path = tmp_path / kind / f"{group}.safetensors"
            save_features(path, features, _extractor(kind))
            out[group].append(str(path))
            out["feats"].setdefault(kind, {})[group] = {k: v.astype(np.float32) for k, v in features.items()}
    text = {pid: rng.normal(size=(1, dims["clip"])) for pid in PROMPTS}
    save_features(tmp_path / "text.safetensors", text, _extractor("clip"))
    out["text"] = [str(tmp_path / "text.safetensors")]
    out["feats"]["text"] = {k: v.astype(np.float32) for k, v in text.items()}
    return out


def _common(files):
    return dict(concept="dog1", extractors=EXTRACTORS, metrics=METRICS, context_ids=PROMPTS,
                target_files=files["targets"], baseline_files=files["baselines"], text_files=files["text"],
                bootstrap_samples=SAMPLES)


def _sets(feats, group, key):
    return {e: feats[e][group][key] for e in EXTRACTORS}


def test_a_methods_rows_are_the_scoring_functions_with_their_intervals(files):
    rows, scores = score_concept(method="lora", image_files=files["images"], eval_steps=[5], **_common(files))
    f = files["feats"]
    targets = _sets(f, "targets", "targets")
    compare = {e: {p: f[e]["baselines"][f"{p}/b"] for p in PROMPTS} for e in EXTRACTORS}  # never half a
    text = {"clip": f["text"]}
    expected = []
    for name, prefix in [("lora", ""), ("lora@step5", "step5/")]:
        plain = _sets(f, "images", f"{prefix}plain")
        context = {e: {p: f[e]["images"][f"{prefix}{p}"] for p in PROMPTS} for e in EXTRACTORS}
        found = concept_method_metrics("dog1", name, plain, targets, context, compare, text, METRICS)
        sizes = {"plain": 3, **{p: 3 for p in PROMPTS}}
        drawn = draw_rows(np.random.default_rng(0), sizes, SAMPLES)
        expected += with_intervals(found, concept_method_replicates(plain, targets, context, compare, text, METRICS,
                                                                    drawn))
        if name == "lora":
            expected_scores = per_image_scores("dog1", name, plain, targets, context, compare, text, METRICS)
    assert rows == expected
    assert [r["method"] for r in rows] == ["lora"] * len(METRICS) + ["lora@step5"] * len(METRICS)
    assert scores == expected_scores and {s["method"] for s in scores} == {"lora"}  # final artifact only
    assert all(r["ci_low"] <= r["ci_high"] for r in rows)


def test_the_reference_compares_the_base_models_halves_and_the_photos(files):
    rows, scores = score_concept(method="_reference", reference=True, **_common(files))
    f = files["feats"]
    half = {h: {e: {p: f[e]["baselines"][f"{p}/{h}"] for p in PROMPTS} for e in EXTRACTORS} for h in "ab"}
    plain = _sets(f, "baselines", "plain/a")
    targets = _sets(f, "targets", "targets")
    found = reference_metrics("dog1", targets, half["a"], half["b"], METRICS, text_feats={"clip": f["text"]},
                              baseline_plain=plain)
    drawn = draw_rows(np.random.default_rng(0), {"plain": 3, **{p: 3 for p in PROMPTS}}, SAMPLES)
    expected = with_intervals(found, reference_replicates(half["a"], half["b"], METRICS, drawn,
                                                          text_feats={"clip": f["text"]}, baseline_plain=plain))
    pd.testing.assert_frame_equal(pd.DataFrame(rows), pd.DataFrame(expected))  # NaN intervals compare equal here
    assert scores == [] and {r["method"] for r in rows} == {"reference"}
    by_metric = {r["metric"]: r for r in rows}
    assert np.isnan(by_metric["image_similarity_clip"]["ci_low"])  # the photos themselves: nothing resampled
    assert np.isfinite(by_metric["prompt_similarity_clip"]["ci_low"])


def test_the_tables_have_the_workflows_columns(files, tmp_path):
    rows, scores = score_concept(method="lora", image_files=files["images"], **_common(files))
    write_tables(rows, scores, tmp_path / "t.csv", tmp_path / "s.csv")
    table, per_image = pd.read_csv(tmp_path / "t.csv"), pd.read_csv(tmp_path / "s.csv")
    assert list(table.columns) == ROW_COLUMNS and len(table) == len(METRICS)
    assert list(per_image.columns) == SCORE_COLUMNS and len(per_image) == len(scores)
    write_tables([], [], tmp_path / "e.csv", tmp_path / "f.csv")  # a run without rows still writes its headers
    assert list(pd.read_csv(tmp_path / "e.csv").columns) == ROW_COLUMNS
