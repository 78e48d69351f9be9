"""What the metrics rule does for one concept x run (or the concept's reference levels and untrained base model):
read the feature files, score the final artifact and each snapshot with their intervals, and each image on its own."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from conceptbench.inputs.prompts import images_in_set
from conceptbench.runs import BASE_MODEL_METHOD, REFERENCE_METHOD, feature_key, snapshot_name
from conceptbench.scoring.family import RunFeatures
from conceptbench.scoring.feature_files import features_metadata, load_features
from conceptbench.scoring.oracle import OracleTask
from conceptbench.scoring.registry import METHOD_BASELINE_HALF, REFERENCE_HALVES, family_of
from conceptbench.scoring.rows import method_run, per_image_scores, reference_run, run_rows
from conceptbench.scoring.uncertainty import run_interval

ROW_COLUMNS = ["concept", "method", "metric", "value", "n", "ci_low", "ci_high"]
SCORE_COLUMNS = ["concept", "method", "metric", "prompt", "image", "value"]


def _per_extractor(extractors: Sequence[str], paths: Sequence[str], set_size: int | Mapping | None = None) -> dict:
    """Each extractor's feature file; with `set_size` (generation.num_images: one count, or {plain, context}), every
    set in it must have that many rows (one per image)."""
    out = {}
    for extractor, path in zip(extractors, paths):
        out[extractor] = load_features(path)
        if set_size is None:
            continue
        expected = {key: images_in_set(set_size, key) for key in out[extractor]}
        wrong = sorted(key for key, rows in out[extractor].items() if len(rows) != expected[key])
        if wrong:
            found = ", ".join(f"{key}: {len(out[extractor][key])} rows, not {expected[key]}" for key in wrong)
            raise ValueError(f"{path}: image sets have other sizes than the config generates ({found}): an image set "
                             "lost images or the file is stale; delete it and the image folder it embeds, and re-run "
                             "snakemake")
    return out


def with_intervals(rows: list[dict], run: RunFeatures, reference: bool = False) -> list[dict]:
    """`rows` with `ci_low` and `ci_high`: for a mean of per-image scores, the t interval over the run's images
    (uncertainty.run_interval); NaN for FID and KID (one statistic of a set) and for the reference's image axis
    (the photos against themselves: nothing generated)."""
    out = []
    for row in rows:
        family, extractor = family_of(row["metric"])
        low = high = float("nan")
        if family.image_scores is not None and not (reference and family.reference is not None):
            low, high = run_interval(family.image_scores(run, extractor), family.pooled)
        out.append({**row, "ci_low": low, "ci_high": high})
    return out


def score_concept(*, concept: str, method: str, extractors: Sequence[str], metrics: Sequence[str],
                  context_ids: Sequence[str], target_files: Sequence[str], baseline_files: Sequence[str],
                  text_files: Sequence[str], image_files: Sequence[str] = (), eval_steps: Sequence[int] = (),
                  snapshot_metrics: Sequence[str] | None = None, oracle: dict | None = None, reference: bool = False,
                  set_size: int | Mapping | None = None):
    """(metric rows with intervals, per-image score rows) of one concept x run, or of its reference levels and the
    untrained base model (`reference`).

    A method's images are compared with the base model's seed half it does not share (registry.METHOD_BASELINE_HALF);
    the final artifact comes first, then each snapshot as `<method>@step<N>` on `snapshot_metrics` (default: all of
    `metrics`). The per-image scores are the final artifact's only. The base model is scored like a method from its
    own images (the other half), so its prompt axis is the reference's and its image axis says how far the untrained
    model is from the photos. With
    `set_size` (inputs.prompts.images_in_set), every generated set must have that many images (a set that lost one
    is not scored at another n).
    """
    extractors = list(extractors)
    targets = {e: f["targets"] for e, f in _per_extractor(extractors, target_files).items()}
    baselines = _per_extractor(extractors, baseline_files, set_size)
    half = {h: {e: {pid: f[f"{pid}/{h}"] for pid in context_ids} for e, f in baselines.items()} for h in "ab"}
    text = {"clip": load_features(text_files[0])} if text_files else None
    task = None
    if oracle:
        labels = json.loads(features_metadata(target_files[extractors.index("oracle")])["labels"])
        task = OracleTask(labels, oracle["class_noun"], oracle["asked"])

    if reference:
        first, second = REFERENCE_HALVES
        plain = {e: f[f"plain/{first}"] for e, f in baselines.items()}
        levels = reference_run(targets, half[first], half[second], text, task, plain)
        rows = with_intervals(run_rows(concept, REFERENCE_METHOD, levels, metrics, reference=True), levels, True)
        base = method_run(plain, targets, half[first], half[second], text, task)
        return rows + with_intervals(run_rows(concept, BASE_MODEL_METHOD, base, metrics), base), []

    images = _per_extractor(extractors, image_files, set_size)
    rows, scores = [], []
    for name, step in [(method, None), *((snapshot_name(method, s), s) for s in eval_steps)]:
        plain = {e: f[feature_key("plain", step)] for e, f in images.items()}
        context = {e: {pid: f[feature_key(pid, step)] for pid in context_ids} for e, f in images.items()}
        run = method_run(plain, targets, context, half[METHOD_BASELINE_HALF], text, task)
        scored = metrics if step is None or snapshot_metrics is None else snapshot_metrics
        rows += with_intervals(run_rows(concept, name, run, scored), run)
        if step is None:  # the per-image scores are the final artifact's
            scores = per_image_scores(concept, name, plain, targets, context, half[METHOD_BASELINE_HALF], text,
                                      metrics, oracle=task)
    return rows, scores


def write_tables(rows: list[dict], scores: list[dict], table_path: str, scores_path: str) -> None:
    import pandas as pd

    pd.DataFrame(rows, columns=ROW_COLUMNS).to_csv(table_path, index=False)
    pd.DataFrame(scores, columns=SCORE_COLUMNS).to_csv(scores_path, index=False)
