"""Bootstrap replicates of a concept's metrics, all replicates at once.

Recomputing every metric on each of 1000 resampled image sets cost ~7 ms of small numpy calls per replicate: the
largest cost of the embedded default's metrics jobs. Here a replicate is a vector of drawn rows per image set
(`uncertainty.draw_rows`), the per-image metrics are means of per-image scores over the drawn rows (one index
operation for all replicates), and FID and KID are computed for a stack of resampled sets at once
(scoring/distances.py). Given the same draws, the values equal those of concept_method_metrics /
reference_metrics on the resampled features (tests/unit/scoring/test_replicates.py checks it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from conceptbench.scoring.distances import frechet_distances, kernel_inception_distances
from conceptbench.scoring.oracle import OracleTask, oracle_hits
from conceptbench.scoring.registry import ORACLE_METRICS, check_metric_list, split_metric
from conceptbench.scoring.similarity import cosine_to_set


def _mean_score(per_image: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return per_image[rows].mean(axis=1)


def _prompt_replicates(metrics, first: Mapping, second: Mapping, text_feats, rows: Mapping) -> dict:
    """Replicates of the prompt-fidelity metrics: `first`'s images of each prompt drawn by rows[prompt]."""
    out = {}
    for metric in metrics:
        family, ex = split_metric(metric)
        if family == "prompt_similarity":
            a, b = first[ex], second[ex]
            per_prompt = [_mean_score(cosine_to_set(a[p], b[p]), rows[p]) for p in a]
        elif family in ("prompt_fid", "prompt_kid"):
            a, b = first[ex], second[ex]
            distances = frechet_distances if family == "prompt_fid" else kernel_inception_distances
            per_prompt = [distances(a[p], rows[p], b[p]) for p in a]
        elif metric == "text_alignment_clip" and text_feats is not None:
            a, t = first["clip"], text_feats["clip"]
            per_prompt = [_mean_score(cosine_to_set(a[p], t[p]), rows[p]) for p in a]
        else:
            continue
        out[metric] = np.mean(per_prompt, axis=0)
    return out


def _oracle_replicates(metrics, plain, per_prompt: Mapping, task: OracleTask, rows: Mapping) -> dict:
    """Replicates of the oracle accuracies: hits of the drawn images over every image counted."""

    def accuracy(sets: dict) -> np.ndarray:
        hits = [oracle_hits(probs, task.labels, wanted)[rows[key]] for key, (probs, wanted) in sets.items()]
        return np.sum([h.sum(axis=1) for h in hits], axis=0) / sum(h.shape[1] for h in hits)

    out = {}
    if "class_accuracy_oracle" in metrics:
        every = {"plain": plain, **per_prompt}
        out["class_accuracy_oracle"] = accuracy({key: (probs, {"class": task.class_noun})
                                                 for key, probs in every.items()})
    if "context_accuracy_oracle" in metrics:
        out["context_accuracy_oracle"] = accuracy({p: (per_prompt[p], task.asked[p])
                                                   for p in per_prompt if task.asked.get(p)})
    return out


def concept_method_replicates(image_feats, target_feats, context_feats, baseline_feats, text_feats, metric_list,
                              rows: Mapping[str, np.ndarray], oracle: OracleTask | None = None) -> dict:
    """{metric: values (replicates,)}: concept_method_metrics (same arguments) with the plain prompt's images
    drawn by rows["plain"] and each context prompt's by rows[prompt id] (replicates x n each)."""
    metrics = check_metric_list(metric_list)
    out = {}
    for metric in metrics:
        family, ex = split_metric(metric)
        if family == "image_similarity":
            out[metric] = _mean_score(cosine_to_set(image_feats[ex], target_feats[ex]), rows["plain"])
        elif family in ("image_fid", "image_kid"):
            distances = frechet_distances if family == "image_fid" else kernel_inception_distances
            out[metric] = distances(image_feats[ex], rows["plain"], target_feats[ex])
        elif family == "subject_similarity":
            # The mean over every drawn image of every context prompt.
            drawn = [cosine_to_set(feats, target_feats[ex])[rows[p]] for p, feats in context_feats[ex].items()]
            out[metric] = np.concatenate(drawn, axis=1).mean(axis=1)
    out.update(_prompt_replicates(metrics, context_feats, baseline_feats, text_feats, rows))
    if any(m in ORACLE_METRICS for m in metrics):
        out.update(_oracle_replicates(metrics, image_feats["oracle"], context_feats["oracle"], oracle, rows))
    return out


def reference_replicates(baseline_a, baseline_b, metric_list, rows: Mapping[str, np.ndarray], text_feats=None,
                         oracle: OracleTask | None = None, baseline_plain=None) -> dict:
    """{metric: values (replicates,)}: reference_metrics with the base model's images of half `a` drawn by
    rows[prompt id] and those of the plain prompt by rows["plain"]. The targets-vs-targets metrics (image_* and
    subject_similarity_*) have no generated image to resample and are left out."""
    metrics = check_metric_list(metric_list)
    out = _prompt_replicates(metrics, baseline_a, baseline_b, text_feats, rows)
    if any(m in ORACLE_METRICS for m in metrics):
        out.update(_oracle_replicates(metrics, baseline_plain["oracle"], baseline_a["oracle"], oracle, rows))
    return out
