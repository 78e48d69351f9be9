"""The metrics rule's job (conceptbench.scoring.job) on feature files written like the features rules write them:
its rows are those of the scoring functions on the same features, with each run's t interval over its images."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conceptbench.scoring.feature_files import save_features
from conceptbench.scoring.job import ROW_COLUMNS, SCORE_COLUMNS, score_concept, write_tables
from conceptbench.scoring.registry import family_of, is_per_image
from conceptbench.scoring.rows import concept_method_metrics, per_image_scores, reference_metrics
from conceptbench.scoring.uncertainty import run_interval

EXTRACTORS = ["clip", "inception"]
PROMPTS = ["ctx_a", "ctx_b"]
METRICS = ["image_similarity_clip", "prompt_similarity_clip", "image_kid_inception", "prompt_fid_inception",
           "text_alignment_clip"]


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
                target_files=files["targets"], baseline_files=files["baselines"], text_files=files["text"])


def _sets(feats, group, key):
    return {e: feats[e][group][key] for e in EXTRACTORS}


def _image_interval(scores: list[dict], metric: str, pooled: bool) -> tuple[float, float]:
    """A run's interval recomputed from its per-image score rows."""
    rows = [s for s in scores if s["metric"] == metric]
    sets = {p: np.array([s["value"] for s in rows if s["prompt"] == p]) for p in dict.fromkeys(s["prompt"] for s in rows)}
    return run_interval(sets, pooled)


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
        expected += concept_method_metrics("dog1", name, plain, targets, context, compare, text, METRICS)
        if name == "lora":
            expected_scores = per_image_scores("dog1", name, plain, targets, context, compare, text, METRICS)
    assert [{k: r[k] for k in expected[0]} for r in rows] == expected
    assert [r["method"] for r in rows] == ["lora"] * len(METRICS) + ["lora@step5"] * len(METRICS)
    assert scores == expected_scores and {s["method"] for s in scores} == {"lora"}  # final artifact only
    for row in rows[:len(METRICS)]:
        family, _ = family_of(row["metric"])
        if family.image_scores is None:  # FID, KID: one statistic of a set, no interval of duplicated images
            assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
        else:  # the t interval over the images, around the value
            interval = _image_interval(scores, row["metric"], family.pooled)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(interval)
            assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_the_reference_compares_the_base_models_halves_and_the_photos_and_scores_the_base_model(files):
    rows, scores = score_concept(method="_reference", reference=True, **_common(files))
    f = files["feats"]
    half = {h: {e: {p: f[e]["baselines"][f"{p}/{h}"] for p in PROMPTS} for e in EXTRACTORS} for h in "ab"}
    plain = _sets(f, "baselines", "plain/a")
    targets = _sets(f, "targets", "targets")
    found = reference_metrics("dog1", targets, half["a"], half["b"], METRICS, text_feats={"clip": f["text"]},
                              baseline_plain=plain)
    reference = [r for r in rows if r["method"] == "reference"]
    assert [{k: r[k] for k in found[0]} for r in reference] == found
    by_metric = {r["metric"]: r for r in reference}
    assert np.isnan(by_metric["image_similarity_clip"]["ci_low"])  # the photos themselves: nothing generated
    assert by_metric["prompt_similarity_clip"]["ci_low"] <= by_metric["prompt_similarity_clip"]["value"] \
        <= by_metric["prompt_similarity_clip"]["ci_high"]
    # The untrained base model, scored like a method from its own images (half a) against half b.
    base = [r for r in rows if r["method"] == "base_model"]
    as_method = concept_method_metrics("dog1", "base_model", plain, targets, half["a"], half["b"],
                                       {"clip": f["text"]}, METRICS)
    assert [{k: r[k] for k in as_method[0]} for r in base] == as_method
    base_by_metric = {r["metric"]: r for r in base}
    assert base_by_metric["prompt_similarity_clip"]["value"] == by_metric["prompt_similarity_clip"]["value"]
    assert np.isfinite(base_by_metric["image_similarity_clip"]["ci_low"])  # generated images: an interval
    assert scores == []


def test_the_tables_have_the_workflows_columns(files, tmp_path):
    rows, scores = score_concept(method="lora", image_files=files["images"], **_common(files))
    write_tables(rows, scores, tmp_path / "t.csv", tmp_path / "s.csv")
    table, per_image = pd.read_csv(tmp_path / "t.csv"), pd.read_csv(tmp_path / "s.csv")
    assert list(table.columns) == ROW_COLUMNS and len(table) == len(METRICS)
    assert list(per_image.columns) == SCORE_COLUMNS and len(per_image) == len(scores)
    write_tables([], [], tmp_path / "e.csv", tmp_path / "f.csv")  # a run without rows still writes its headers
    assert list(pd.read_csv(tmp_path / "e.csv").columns) == ROW_COLUMNS


def test_a_set_that_lost_images_is_named_not_scored(files):
    """A generated image deleted after its set was embedded anew: that set has 2 rows where every set has 3; the
    job names the file and how to re-make it instead of scoring FID at another n."""
    rows, _ = score_concept(method="lora", image_files=files["images"], set_size=3, **_common(files))
    assert len(rows) == len(METRICS)
    features = dict(files["feats"]["clip"]["images"])
    features["ctx_a"] = features["ctx_a"][:2]
    save_features(files["images"][0], features, _extractor("clip"))
    with pytest.raises(ValueError, match=r"clip/images\.safetensors: image sets have other sizes than the config "
                                         r"generates \(ctx_a: 2 rows, not 3\)"):
        score_concept(method="lora", image_files=files["images"], set_size=3, **_common(files))
    # Counts per prompt kind ({plain, context}) are checked per set, the base model's halves too: here the context
    # sets are meant to have 2.
    with pytest.raises(ValueError, match=r"baselines\.safetensors: .*ctx_b/a: 3 rows, not 2"):
        score_concept(method="lora", image_files=files["images"], set_size={"plain": 3, "context": 2},
                      **_common(files))


def test_a_truncated_feature_file_is_named_with_the_fix(files):
    path = Path(files["images"][0])
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=f"{path}: cannot read this feature file .* delete it and re-run snakemake"):
        score_concept(method="lora", image_files=files["images"], **_common(files))


def test_snapshots_with_fewer_images_are_checked_at_their_own_size_and_scored_on_the_per_image_metrics(tmp_path):
    """generation.snapshot_images: the snapshot sets hold 2 images where the final ones hold 3. Each is checked at
    its own size, and the snapshot is scored on `snapshot_metrics` only; a snapshot set of the final's size is a
    stale one, named."""
    rng = np.random.default_rng(5)
    files = {"targets": [], "baselines": [], "images": [], "text": []}
    for kind, d in {"clip": 6, "inception": 8}.items():
        groups = {
            "targets": {"targets": rng.normal(size=(4, d))},
            "baselines": {f"{pid}/{h}": rng.normal(size=(3, d)) for pid in ["plain", *PROMPTS] for h in "ab"},
            "images": {**{pid: rng.normal(size=(3, d)) for pid in ["plain", *PROMPTS]},
                       **{f"step5/{pid}": rng.normal(size=(2, d)) for pid in ["plain", *PROMPTS]}},
        }
        for group, features in groups.items():
            save_features(tmp_path / kind / f"{group}.safetensors", features, _extractor(kind))
            files[group].append(str(tmp_path / kind / f"{group}.safetensors"))
    save_features(tmp_path / "text.safetensors", {pid: rng.normal(size=(1, 6)) for pid in PROMPTS}, _extractor("clip"))
    files["text"] = [str(tmp_path / "text.safetensors")]
    per_image = [m for m in METRICS if is_per_image(m)]
    assert per_image and len(per_image) < len(METRICS)
    rows, _ = score_concept(method="lora", image_files=files["images"], eval_steps=[5], snapshot_metrics=per_image,
                            set_size={"final": 3, "snapshots": 2}, **_common(files))
    by_method = {m: [r["metric"] for r in rows if r["method"] == m] for m in ("lora", "lora@step5")}
    assert by_method == {"lora": list(METRICS), "lora@step5": per_image}
    assert all(r["n"] == 2 for r in rows if r["method"] == "lora@step5" and r["metric"] == "image_similarity_clip")
    with pytest.raises(ValueError, match=r"images\.safetensors: image sets have other sizes .*step5/plain: 2 rows, "
                                         r"not 3"):
        score_concept(method="lora", image_files=files["images"], eval_steps=[5], set_size=3, **_common(files))
