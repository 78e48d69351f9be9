"""Scores for generated image sets as the tidy rows the workflow writes: {concept, method, metric, value, n}, and
each image's own score for the per-image metrics.

Everything is computed in float64 numpy; feature sets are 2-D arrays with one row per image (or text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from conceptbench.runs import REFERENCE_METHOD
from conceptbench.scoring.arrays import as_matrix
from conceptbench.scoring.distances import frechet_distance, kernel_inception_distance
from conceptbench.scoring.oracle import OracleTask, oracle_hits
from conceptbench.scoring.registry import ORACLE_METRICS, check_metric_list, split_metric
from conceptbench.scoring.similarity import cosine_to_set, mean_pairwise_cosine


def _feats(feats: Mapping, extractor: str, what: str):
    if extractor not in feats:
        raise KeyError(f"{what} has no features for extractor {extractor!r} (has {sorted(feats)})")
    return feats[extractor]


def _paired_prompts(first: Mapping, second: Mapping, what_first: str, what_second: str) -> list:
    """Prompt ids present in both per-prompt dicts; a prompt missing on either side is an error."""
    if not first:
        raise ValueError(f"{what_first} has no prompts")
    missing = sorted(set(first) ^ set(second), key=str)
    if missing:
        raise KeyError(f"prompt ids {missing} are not in both {what_first} and {what_second}")
    return list(first)


def _per_prompt(score, first: Mapping, second: Mapping, what_first: str, what_second: str):
    """Mean over prompts of score(first[p], second[p]), plus the prompt ids."""
    prompts = _paired_prompts(first, second, what_first, what_second)
    return float(np.mean([score(first[p], second[p]) for p in prompts])), prompts


def _n_rows(x) -> int:
    return as_matrix(x, "features").shape[0]


def _row(concept: str, method: str, metric: str, value: float, n: int) -> dict:
    return {"concept": concept, "method": method, "metric": metric, "value": float(value), "n": int(n)}


def _prompt_rows(concept, method, metrics, first, second, text_feats, first_what, second_what) -> list[dict]:
    """Rows of the prompt-fidelity metrics, shared by methods (context vs baseline) and reference (base vs base)."""
    rows = []
    for metric in metrics:
        family, ex = split_metric(metric)
        if family == "prompt_similarity":
            a, b = _feats(first, ex, first_what), _feats(second, ex, second_what)
            value, prompts = _per_prompt(mean_pairwise_cosine, a, b, first_what, second_what)
            n = sum(_n_rows(a[p]) for p in prompts)  # prompts x images
        elif family in ("prompt_fid", "prompt_kid"):
            a, b = _feats(first, ex, first_what), _feats(second, ex, second_what)
            distance = frechet_distance if family == "prompt_fid" else kernel_inception_distance
            value, prompts = _per_prompt(distance, a, b, first_what, second_what)
            # Each distance uses min(set sizes) samples per side; the smallest over prompts bounds comparability.
            n = min(min(_n_rows(a[p]), _n_rows(b[p])) for p in prompts)
        elif metric == "text_alignment_clip":
            if text_feats is None:
                raise ValueError("text_alignment_clip needs text_feats (CLIP text embeddings per prompt)")
            a, t = _feats(first, "clip", first_what), _feats(text_feats, "clip", "text_feats")
            value, prompts = _per_prompt(mean_pairwise_cosine, a, t, first_what, "text_feats")
            n = sum(_n_rows(a[p]) for p in prompts)
        else:
            continue
        rows.append(_row(concept, method, metric, value, n))
    return rows


def _oracle_rows(concept, method, metrics, plain, per_prompt: Mapping, task: OracleTask | None) -> list[dict]:
    """class_accuracy over every image (plain and context prompts); context_accuracy over the context prompts
    whose wording the world knows, each image judged on every attribute its prompt asks for."""
    wanted = [m for m in metrics if m in ORACLE_METRICS]
    if not wanted:
        return []
    if task is None:
        raise ValueError(f"{wanted} need the oracle's task (labels, class noun, asked attributes)")
    rows = []
    if "class_accuracy_oracle" in wanted:
        hits = np.concatenate([oracle_hits(x, task.labels, {"class": task.class_noun})
                               for x in [plain, *per_prompt.values()]])
        rows.append(_row(concept, method, "class_accuracy_oracle", hits.mean(), len(hits)))
    if "context_accuracy_oracle" in wanted:
        judged = [pid for pid in per_prompt if task.asked.get(pid)]
        if not judged:
            raise ValueError("context_accuracy_oracle: no context prompt is in the world's wording "
                             "(see conceptbench.world.vocabulary.parse_prompt)")
        hits = np.concatenate([oracle_hits(per_prompt[pid], task.labels, task.asked[pid]) for pid in judged])
        rows.append(_row(concept, method, "context_accuracy_oracle", hits.mean(), len(hits)))
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
    rows = []

    def add(metric, prompt, values):
        rows.extend({"concept": concept, "method": method, "metric": metric, "prompt": prompt, "image": i,
                     "value": float(v)} for i, v in enumerate(values))

    for metric in check_metric_list(metric_list):
        family, ex = split_metric(metric)
        if family == "image_similarity":
            add(metric, plain_prompt, cosine_to_set(_feats(image_feats, ex, "image_feats"),
                                                    _feats(target_feats, ex, "target_feats")))
        elif family == "subject_similarity":
            targets = _feats(target_feats, ex, "target_feats")
            for pid, feats in _feats(context_feats, ex, "context_feats").items():
                add(metric, pid, cosine_to_set(feats, targets))
        elif family == "prompt_similarity":
            context, baseline = _feats(context_feats, ex, "context_feats"), _feats(baseline_feats, ex, "baseline_feats")
            for pid in _paired_prompts(context, baseline, "context_feats", "baseline_feats"):
                add(metric, pid, cosine_to_set(context[pid], baseline[pid]))
        elif metric == "text_alignment_clip":
            if text_feats is None:
                raise ValueError("text_alignment_clip needs text_feats (CLIP text embeddings per prompt)")
            context, text = _feats(context_feats, "clip", "context_feats"), _feats(text_feats, "clip", "text_feats")
            for pid in _paired_prompts(context, text, "context_feats", "text_feats"):
                add(metric, pid, cosine_to_set(context[pid], text[pid]))
        elif metric in ORACLE_METRICS:
            if oracle is None:
                raise ValueError(f"{metric} needs the oracle's task (labels, class noun, asked attributes)")
            context = _feats(context_feats, "oracle", "context_feats")
            if metric == "class_accuracy_oracle":
                sets = {plain_prompt: _feats(image_feats, "oracle", "image_feats"), **context}
                for pid, probs in sets.items():
                    add(metric, pid, oracle_hits(probs, oracle.labels, {"class": oracle.class_noun}))
            else:
                for pid in [p for p in context if oracle.asked.get(p)]:
                    add(metric, pid, oracle_hits(context[pid], oracle.labels, oracle.asked[pid]))
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
    metrics = check_metric_list(metric_list)
    rows = []
    for metric in metrics:
        family, ex = split_metric(metric)
        if family == "image_similarity":
            gen = _feats(image_feats, ex, "image_feats")
            value = mean_pairwise_cosine(gen, _feats(target_feats, ex, "target_feats"))
            rows.append(_row(concept, method, metric, value, _n_rows(gen)))
        elif family in ("image_fid", "image_kid"):
            gen, tgt = _feats(image_feats, ex, "image_feats"), _feats(target_feats, ex, "target_feats")
            value = (frechet_distance if family == "image_fid" else kernel_inception_distance)(gen, tgt)
            rows.append(_row(concept, method, metric, value, min(_n_rows(gen), _n_rows(tgt))))
        elif family == "subject_similarity":
            context = _feats(context_feats, ex, "context_feats")
            if not context:
                raise ValueError("context_feats has no prompts")
            gen = np.concatenate([as_matrix(f, f"context_feats[{ex!r}]") for f in context.values()])
            value = mean_pairwise_cosine(gen, _feats(target_feats, ex, "target_feats"))
            rows.append(_row(concept, method, metric, value, gen.shape[0]))
    rows += _prompt_rows(
        concept, method, metrics, context_feats, baseline_feats, text_feats, "context_feats", "baseline_feats"
    )
    if any(m in ORACLE_METRICS for m in metrics):
        rows += _oracle_rows(concept, method, metrics, _feats(image_feats, "oracle", "image_feats"),
                             _feats(context_feats, "oracle", "context_feats"), oracle)
    # Keep the caller's metric order so the output is predictable.
    return sorted(rows, key=lambda r: metrics.index(r["metric"]))


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
    metrics = check_metric_list(metric_list)
    method = REFERENCE_METHOD
    rows = []
    for metric in metrics:
        family, ex = split_metric(metric)
        if family in ("image_similarity", "subject_similarity"):
            # Each photo against the others: DreamBench's "real images" row for CLIP-I and DINO.
            tgt = as_matrix(_feats(target_feats, ex, "target_feats"), f"target_feats[{ex!r}]")
            value = mean_pairwise_cosine(tgt, tgt, exclude_diagonal=True)
            rows.append(_row(concept, method, metric, value, tgt.shape[0]))
        elif family in ("image_fid", "image_kid"):
            tgt = as_matrix(_feats(target_feats, ex, "target_feats"), f"target_feats[{ex!r}]")
            # A distance of a set to itself is 0 by construction, so compare the two halves of the targets: the
            # distance between two samples of the same concept is the attainable floor. With fewer than 4 targets
            # a half has one image and no distance is defined: NaN, with the n it would have had.
            half = tgt.shape[0] // 2
            if half < 2:
                value = float("nan")
            else:
                distance = frechet_distance if family == "image_fid" else kernel_inception_distance
                value = distance(tgt[:half], tgt[half:])
            rows.append(_row(concept, method, metric, value, half))
    if text_feats is None:
        metrics_for_prompts = [m for m in metrics if m != "text_alignment_clip"]
    else:
        metrics_for_prompts = metrics
    rows += _prompt_rows(
        concept, method, metrics_for_prompts, baseline_a, baseline_b, text_feats, "baseline_a", "baseline_b"
    )
    if any(m in ORACLE_METRICS for m in metrics):
        if baseline_plain is None:
            raise ValueError("the reference's oracle accuracies need baseline_plain (base-model plain-prompt images)")
        rows += _oracle_rows(concept, method, metrics, _feats(baseline_plain, "oracle", "baseline_plain"),
                             _feats(baseline_a, "oracle", "baseline_a"), oracle)
    return sorted(rows, key=lambda r: metrics.index(r["metric"]))
