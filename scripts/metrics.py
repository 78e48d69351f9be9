"""Rule metrics: tidy scores for one concept x method with bootstrap intervals (also for each of its snapshots,
as method `<method>@step<N>`), and each image's own score; or the reference levels (method `_reference`)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

import json

import numpy as np
import pandas as pd

from conceptbench.scoring.feature_files import features_metadata, load_features
from conceptbench.scoring.registry import METHOD_BASELINE_HALF, REFERENCE_HALVES
from conceptbench.scoring.oracle import OracleTask
from conceptbench.scoring.rows import concept_method_metrics, per_image_scores, reference_metrics
from conceptbench.runs import feature_key, snapshot_name
from conceptbench.scoring.replicates import concept_method_replicates, reference_replicates
from conceptbench.scoring.uncertainty import draw_rows, with_intervals

ROW_COLUMNS = ["concept", "method", "metric", "value", "n", "ci_low", "ci_high"]
SCORE_COLUMNS = ["concept", "method", "metric", "prompt", "image", "value"]

log = start_job(snakemake)
p, inp, wc = snakemake.params, snakemake.input, snakemake.wildcards
extractors = list(p.extractors)


def per_extractor(paths):
    return {e: load_features(path) for e, path in zip(extractors, paths)}


targets = {e: f["targets"] for e, f in per_extractor(inp.targets).items()}
baselines = per_extractor(inp.baselines)
half = {h: {e: {pid: f[f"{pid}/{h}"] for pid in p.context_ids} for e, f in baselines.items()} for h in "ab"}
text = {"clip": load_features(inp.text[0])} if inp.text else None
oracle = None
if p.oracle:
    labels = json.loads(features_metadata(inp.targets[extractors.index("oracle")])["labels"])
    oracle = OracleTask(labels, p.oracle["class_noun"], p.oracle["asked"])


def sizes(plain_set, per_prompt):
    """Image counts per set ({"plain": n, prompt id: n, ...}), for the bootstrap's draws."""
    first = next(iter(per_prompt.values()))
    return {"plain": len(next(iter(plain_set.values()))), **{pid: len(first[pid]) for pid in first}}


rng = np.random.default_rng(0)
if p.reference:
    first, second = REFERENCE_HALVES
    plain = {e: f[f"plain/{first}"] for e, f in baselines.items()}
    rows = reference_metrics(wc.concept, targets, half[first], half[second], p.metrics, text_feats=text,
                             oracle=oracle, baseline_plain=plain)
    # The targets-vs-targets rows compare the photos with themselves: no generated image to resample (NaN interval).
    drawn = draw_rows(rng, sizes(plain, half[first]), p.bootstrap_samples)
    rows = with_intervals(rows, reference_replicates(half[first], half[second], p.metrics, drawn, text_feats=text,
                                                     oracle=oracle, baseline_plain=plain))
    scores = []
else:
    images = per_extractor(inp.images)
    common = dict(target_feats=targets, baseline_feats=half[METHOD_BASELINE_HALF],  # never the half that shares
                  text_feats=text, metric_list=p.metrics, oracle=oracle)           # the method's seeds
    rows, scores = [], []
    # The final artifact, then each snapshot (runs.feature_key), the same draws for all.
    for name, step in [(wc.method, None), *((snapshot_name(wc.method, s), s) for s in p.eval_steps)]:
        plain = {e: f[feature_key("plain", step)] for e, f in images.items()}
        context = {e: {pid: f[feature_key(pid, step)] for pid in p.context_ids} for e, f in images.items()}
        found = concept_method_metrics(wc.concept, name, image_feats=plain, context_feats=context, **common)
        drawn = draw_rows(np.random.default_rng(0), sizes(plain, context), p.bootstrap_samples)
        rows += with_intervals(found, concept_method_replicates(image_feats=plain, context_feats=context, rows=drawn,
                                                                **common))
        if step is None:  # the paired comparisons are between final artifacts
            scores = per_image_scores(wc.concept, name, image_feats=plain, context_feats=context, **common)
log(f"{p.bootstrap_samples} bootstrap samples of the generated images for the intervals")
pd.DataFrame(rows, columns=ROW_COLUMNS).to_csv(snakemake.output.table, index=False)
pd.DataFrame(scores, columns=SCORE_COLUMNS).to_csv(snakemake.output.scores, index=False)
log(f"{len(rows)} metric rows -> {snakemake.output.table}, {len(scores)} per-image scores -> {snakemake.output.scores}")
