"""What the metrics rule does for one concept x run (or the concept's reference levels): read the feature files,
score the final artifact and each snapshot with bootstrap intervals, and each image on its own."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from conceptbench.runs import REFERENCE_METHOD, feature_key, snapshot_name
from conceptbench.scoring.feature_files import features_metadata, load_features
from conceptbench.scoring.oracle import OracleTask
from conceptbench.scoring.registry import METHOD_BASELINE_HALF, REFERENCE_HALVES
from conceptbench.scoring.replicates import run_replicates
from conceptbench.scoring.rows import method_run, per_image_scores, reference_run, run_rows
from conceptbench.scoring.uncertainty import draw_rows, with_intervals

ROW_COLUMNS = ["concept", "method", "metric", "value", "n", "ci_low", "ci_high"]
SCORE_COLUMNS = ["concept", "method", "metric", "prompt", "image", "value"]


def _per_extractor(extractors: Sequence[str], paths: Sequence[str]) -> dict:
    return {e: load_features(path) for e, path in zip(extractors, paths)}


def _sizes(run) -> dict[str, int]:
    """Image counts per set ({"plain": n, prompt id: n, ...}), for the bootstrap's draws."""
    first = next(iter(run.context.values()))
    return {"plain": len(next(iter(run.plain.values()))), **{pid: len(first[pid]) for pid in first}}


def score_concept(*, concept: str, method: str, extractors: Sequence[str], metrics: Sequence[str],
                  context_ids: Sequence[str], target_files: Sequence[str], baseline_files: Sequence[str],
                  text_files: Sequence[str], image_files: Sequence[str] = (), eval_steps: Sequence[int] = (),
                  oracle: dict | None = None, bootstrap_samples: int, reference: bool = False):
    """(metric rows with intervals, per-image score rows) of one concept x run, or of its reference levels.

    A method's images are compared with the base model's seed half it does not share (registry.METHOD_BASELINE_HALF);
    the final artifact comes first, then each snapshot as `<method>@step<N>`, each with the same draws. The
    per-image scores (for the paired comparisons) are the final artifact's only; the reference has none.
    """
    extractors = list(extractors)
    targets = {e: f["targets"] for e, f in _per_extractor(extractors, target_files).items()}
    baselines = _per_extractor(extractors, baseline_files)
    half = {h: {e: {pid: f[f"{pid}/{h}"] for pid in context_ids} for e, f in baselines.items()} for h in "ab"}
    text = {"clip": load_features(text_files[0])} if text_files else None
    task = None
    if oracle:
        labels = json.loads(features_metadata(target_files[extractors.index("oracle")])["labels"])
        task = OracleTask(labels, oracle["class_noun"], oracle["asked"])

    if reference:
        first, second = REFERENCE_HALVES
        plain = {e: f[f"plain/{first}"] for e, f in baselines.items()}
        run = reference_run(targets, half[first], half[second], text, task, plain)
        rows = run_rows(concept, REFERENCE_METHOD, run, metrics, reference=True)
        drawn = draw_rows(np.random.default_rng(0), _sizes(run), bootstrap_samples)
        return with_intervals(rows, run_replicates(run, metrics, drawn, reference=True)), []

    images = _per_extractor(extractors, image_files)
    rows, scores = [], []
    for name, step in [(method, None), *((snapshot_name(method, s), s) for s in eval_steps)]:
        plain = {e: f[feature_key("plain", step)] for e, f in images.items()}
        context = {e: {pid: f[feature_key(pid, step)] for pid in context_ids} for e, f in images.items()}
        run = method_run(plain, targets, context, half[METHOD_BASELINE_HALF], text, task)
        drawn = draw_rows(np.random.default_rng(0), _sizes(run), bootstrap_samples)
        rows += with_intervals(run_rows(concept, name, run, metrics), run_replicates(run, metrics, drawn))
        if step is None:  # the paired comparisons are between final artifacts
            scores = per_image_scores(concept, name, plain, targets, context, half[METHOD_BASELINE_HALF], text,
                                      metrics, oracle=task)
    return rows, scores


def write_tables(rows: list[dict], scores: list[dict], table_path: str, scores_path: str) -> None:
    import pandas as pd

    pd.DataFrame(rows, columns=ROW_COLUMNS).to_csv(table_path, index=False)
    pd.DataFrame(scores, columns=SCORE_COLUMNS).to_csv(scores_path, index=False)
