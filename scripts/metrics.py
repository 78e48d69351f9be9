"""Rule metrics: tidy scores for one concept x method, or the reference levels (method `_reference`)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

import json

import pandas as pd

from conceptbench.feature_files import features_metadata, load_features
from conceptbench.jobs import start_job
from conceptbench.metrics import OracleTask, concept_method_metrics, reference_metrics

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
    rows = reference_metrics(wc.concept, targets, half["a"], half["b"], p.metrics, text_feats=text, oracle=oracle,
                             baseline_plain={e: f["plain/a"] for e, f in baselines.items()})
else:
    images = per_extractor(inp.images)
    rows = concept_method_metrics(
        wc.concept, wc.method,
        image_feats={e: f["plain"] for e, f in images.items()},
        target_feats=targets,
        context_feats={e: {pid: f[pid] for pid in p.context_ids} for e, f in images.items()},
        baseline_feats=half["a"],
        text_feats=text,
        metric_list=p.metrics,
        oracle=oracle,
    )
pd.DataFrame(rows, columns=["concept", "method", "metric", "value", "n"]).to_csv(snakemake.output[0], index=False)
log(f"{len(rows)} metric rows -> {snakemake.output[0]}")
