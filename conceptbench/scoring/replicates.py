"""Bootstrap replicates of a run's metrics, all replicates at once, every metric through its family.

Recomputing every metric on each of 1000 resampled image sets cost ~7 ms of small numpy calls per replicate: the
largest cost of the embedded default's metrics jobs. Here a replicate is a vector of drawn rows per image set
(`uncertainty.draw_rows`), the per-image metrics are means of per-image scores over the drawn rows (one index
operation for all replicates), and FID and KID are computed for a stack of resampled sets at once
(scoring/distances.py). Given the same draws, the values equal those of concept_method_metrics /
reference_metrics on the resampled features (tests/unit/scoring/test_replicates.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from conceptbench.scoring.family import RunFeatures
from conceptbench.scoring.oracle import OracleTask
from conceptbench.scoring.registry import family_of
from conceptbench.scoring.rows import method_run, reference_run, scored_metrics


def run_replicates(run: RunFeatures, metric_list: Iterable[str], rows: Mapping[str, np.ndarray],
                   reference: bool = False) -> dict[str, np.ndarray]:
    """{metric: values (replicates,)} for the run's images drawn by rows[prompt id] (rows["plain"] for the plain
    prompt's). The reference's image-axis metrics compare the photos with themselves: nothing generated to
    resample, so they have no replicates."""
    out = {}
    for metric in scored_metrics(metric_list, run, reference):
        family, extractor = family_of(metric)
        if reference and family.reference is not None:
            continue
        out[metric] = family.replicate(run, extractor, rows)
    return out


def concept_method_replicates(image_feats, target_feats, context_feats, baseline_feats, text_feats, metric_list,
                              rows: Mapping[str, np.ndarray], oracle: OracleTask | None = None) -> dict:
    """{metric: values (replicates,)}: concept_method_metrics (same arguments) with the plain prompt's images
    drawn by rows["plain"] and each context prompt's by rows[prompt id] (replicates x n each)."""
    run = method_run(image_feats, target_feats, context_feats, baseline_feats, text_feats, oracle)
    return run_replicates(run, metric_list, rows)


def reference_replicates(baseline_a, baseline_b, metric_list, rows: Mapping[str, np.ndarray], text_feats=None,
                         oracle: OracleTask | None = None, baseline_plain=None) -> dict:
    """{metric: values (replicates,)}: reference_metrics with the base model's images of half `a` drawn by
    rows[prompt id] and those of the plain prompt by rows["plain"]. The targets-vs-targets metrics (image_* and
    subject_similarity_*) have no generated image to resample and are left out."""
    run = reference_run(None, baseline_a, baseline_b, text_feats, oracle, baseline_plain)
    return run_replicates(run, metric_list, rows, reference=True)
