"""A run's scores as the tidy rows the workflow writes, {concept, method, metric, value, n}, and each image's own
score for the per-image metrics; every metric through its family (scoring/registry.py).

Everything is computed in float64 numpy; feature sets are 2-D arrays with one row per image (or text).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from conceptbench.runs import REFERENCE_METHOD
from conceptbench.scoring.family import RunFeatures
from conceptbench.scoring.oracle import OracleTask
from conceptbench.scoring.registry import check_metric_list, family_of

# How the reference's sets are named in errors: the base model's images stand in for a method's.
REFERENCE_LABELS = {"plain": "baseline_plain", "context": "baseline_a", "targets": "target_feats",
                    "compare": "baseline_b", "text": "text_feats"}


def method_run(image_feats, target_feats, context_feats, baseline_feats, text_feats, oracle=None) -> RunFeatures:
    """A method's features (see concept_method_metrics) as a RunFeatures."""
    return RunFeatures(plain=image_feats, context=context_feats, targets=target_feats, compare=baseline_feats,
                       text=text_feats, oracle=oracle)


def reference_run(target_feats, baseline_a, baseline_b, text_feats=None, oracle=None, baseline_plain=None):
    """The reference levels' features (see reference_metrics) as a RunFeatures."""
    return RunFeatures(plain=baseline_plain, context=baseline_a, targets=target_feats, compare=baseline_b,
                       text=text_feats, oracle=oracle, labels=REFERENCE_LABELS)


def scored_metrics(metric_list: Iterable[str], run: RunFeatures, reference: bool = False) -> list[str]:
    """The metrics a run is scored on: all of them, except that the reference leaves out text alignment when it
    has no text embeddings."""
    metrics = check_metric_list(metric_list)
    if reference and run.text is None:
        metrics = [m for m in metrics if not family_of(m)[0].needs_text]
    return metrics


def run_rows(concept: str, method: str, run: RunFeatures, metric_list: Iterable[str],
             reference: bool = False) -> list[dict]:
    """One row per metric, in the order of `metric_list`. The reference rows use a family's own reference score
    where it has one (the image axis: the photos against themselves)."""
    rows = []
    for metric in scored_metrics(metric_list, run, reference):
        family, extractor = family_of(metric)
        score = family.reference if reference and family.reference is not None else family.score
        value, n = score(run, extractor)
        rows.append({"concept": concept, "method": method, "metric": metric, "value": float(value), "n": int(n)})
    return rows


def per_image_scores(
    concept: str,
    method: str,
    image_feats: dict[str, np.ndarray],
    target_feats: dict[str, np.ndarray],
    context_feats: dict[str, dict[str, np.ndarray]],
    baseline_feats: dict[str, dict[str, np.ndarray]],
    text_feats: dict[str, dict[str, np.ndarray]] | None,
    metric_list: Iterable[str],
    oracle: OracleTask | None = None,
    plain_prompt: str = "plain",
) -> list[dict]:
    """Rows {concept, method, metric, prompt, image, value}: each generated image's own score for every per-image
    metric (arguments as in concept_method_metrics). Image i of a prompt has the same seed for every method, so
    these rows pair methods image by image (uncertainty.paired_comparisons)."""
    run = method_run(image_feats, target_feats, context_feats, baseline_feats, text_feats, oracle)
    rows = []
    for metric in check_metric_list(metric_list):
        family, extractor = family_of(metric)
        if family.image_scores is None:
            continue
        for prompt, values in family.image_scores(run, extractor).items():
            prompt = plain_prompt if prompt == "plain" else prompt
            rows.extend({"concept": concept, "method": method, "metric": metric, "prompt": prompt, "image": i,
                         "value": float(v)} for i, v in enumerate(values))
    return rows


def concept_method_metrics(
    concept: str,
    method: str,
    image_feats: dict[str, np.ndarray],
    target_feats: dict[str, np.ndarray],
    context_feats: dict[str, dict[str, np.ndarray]],
    baseline_feats: dict[str, dict[str, np.ndarray]],
    text_feats: dict[str, dict[str, np.ndarray]] | None,
    metric_list: Iterable[str],
    oracle: OracleTask | None = None,
) -> list[dict]:
    """Tidy rows {concept, method, metric, value, n} for one concept taught with one method.

    Feature dicts are keyed by extractor name ("clip", "inception", "dino"):
      image_feats[ex]                  images of the plain prompt
      target_feats[ex]                 the concept's target photos
      context_feats[ex][prompt_id]     images of each context prompt
      baseline_feats[ex][prompt_id]    base-model images of the same prompt with the concept phrase
                                       replaced by its class noun, from seeds the method's images do not use
      text_feats["clip"][prompt_id]    CLIP text embedding (1 x d) of that rewritten prompt
    `oracle` says what the world oracle ("oracle" features: per-attribute probabilities) should see.

    n is the number of generated images for similarities (prompts x images for the per-prompt ones)
    and the per-set sample size min(n_a, n_b) for FIDs (smallest over prompts for prompt_fid).
    """
    run = method_run(image_feats, target_feats, context_feats, baseline_feats, text_feats, oracle)
    return run_rows(concept, method, run, metric_list)


def reference_metrics(
    concept: str,
    target_feats: dict[str, np.ndarray],
    baseline_a: dict[str, dict[str, np.ndarray]],
    baseline_b: dict[str, dict[str, np.ndarray]],
    metric_list: Iterable[str],
    text_feats: dict[str, dict[str, np.ndarray]] | None = None,
    oracle: OracleTask | None = None,
    baseline_plain: dict[str, np.ndarray] | None = None,
) -> list[dict]:
    """Rows with method "reference": what the metrics give for real data compared with itself.

    They are the ceilings (floors for FID) the methods are plotted against: targets vs targets on the
    image axis, base-model images vs base-model images (two seed halves, `baseline_a` and `baseline_b`,
    keyed like `baseline_feats` of concept_method_metrics) on the prompt axis. text_alignment_clip is
    baseline_a against the prompt text; it is left out when `text_feats` is None. The oracle accuracies are
    those of the base model's own images (`baseline_plain`, the plain prompt's, and `baseline_a`).
    """
    run = reference_run(target_feats, baseline_a, baseline_b, text_feats, oracle, baseline_plain)
    return run_rows(concept, REFERENCE_METHOD, run, metric_list, reference=True)
