"""Rule metrics: tidy scores for one concept x method with bootstrap intervals, and each image's own score; or the
reference levels (method `_reference`)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

import json

import pandas as pd

from conceptbench.feature_files import features_metadata, load_features
from conceptbench.jobs import start_job
from conceptbench.metrics import (METHOD_BASELINE_HALF, REFERENCE_HALVES, OracleTask, concept_method_metrics,
                                  per_image_scores, reference_metrics)
from conceptbench.uncertainty import resample_images, resample_prompts, with_bootstrap_intervals

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

if p.reference:
    first, second = REFERENCE_HALVES
    plain = {e: f[f"plain/{first}"] for e, f in baselines.items()}

    def rows_for(first_half, first_plain):
        return reference_metrics(wc.concept, targets, first_half, half[second], p.metrics, text_feats=text,
                                 oracle=oracle, baseline_plain=first_plain)

    rows = rows_for(half[first], plain)
    # The targets-vs-targets rows compare the photos with themselves: no generated image to resample.
    rows = with_bootstrap_intervals(
        rows, lambda rng: rows_for(resample_prompts(rng, half[first]), resample_images(rng, plain)),
        samples=p.bootstrap_samples, fixed=lambda metric: metric.startswith("image_"))
    scores = []
else:
    images = per_extractor(inp.images)
    plain = {e: f["plain"] for e, f in images.items()}
    context = {e: {pid: f[pid] for pid in p.context_ids} for e, f in images.items()}
    common = dict(target_feats=targets, baseline_feats=half[METHOD_BASELINE_HALF],  # never the half that shares
                  text_feats=text, metric_list=p.metrics, oracle=oracle)           # the method's seeds
    rows = concept_method_metrics(wc.concept, wc.method, image_feats=plain, context_feats=context, **common)
    rows = with_bootstrap_intervals(
        rows, lambda rng: concept_method_metrics(wc.concept, wc.method, image_feats=resample_images(rng, plain),
                                                 context_feats=resample_prompts(rng, context), **common),
        samples=p.bootstrap_samples)
    scores = per_image_scores(wc.concept, wc.method, image_feats=plain, context_feats=context, **common)
    log(f"{p.bootstrap_samples} bootstrap samples of the images for the intervals")
pd.DataFrame(rows, columns=ROW_COLUMNS).to_csv(snakemake.output.table, index=False)
pd.DataFrame(scores, columns=SCORE_COLUMNS).to_csv(snakemake.output.scores, index=False)
log(f"{len(rows)} metric rows -> {snakemake.output.table}, {len(scores)} per-image scores -> {snakemake.output.scores}")
