"""Simulated studies with a known truth, to check that the intervals and tests of scoring/uncertainty.py hold.

A score is mu_method + concept + method x concept + seed + image, each a normal draw with the spread measured on
the world (WORLD_SPREADS). Every study is scored the way the workflow scores a real one: a run's interval over its
images (run_interval), a concept's over its seeds and a method's over its concepts (t_interval), the paired
comparisons over concepts (paired_t_p, holm). `coverage` returns how often each interval covers its truth, and
how often the comparisons reject when every method has the same mean. `python bench/coverage.py` prints it for
the designs of DESIGNS; tests/unit/scoring/test_coverage.py asserts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conceptbench.scoring.uncertainty import MIN_CONCEPTS, holm, paired_t_p, run_interval, t_interval


@dataclass(frozen=True)
class Spreads:
    """Standard deviations of the nested effects of a score."""

    concept: float
    method_by_concept: float
    seed: float
    image: float
    prompt: float  # between the context prompts of one run


# DINO image similarity on the world (default run, 2026-12-06): images within a run's set sd 0.25 (CLIP 0.16);
# LoRA's blue_dog at training seeds 0, 1, 2: 0.58, 0.44, 0.94 (sd 0.26); the two demo concepts' run means differ by
# 0.02-0.45 between concepts (CLIP: 0.19-0.24 against 0.52-0.58), about 0.2; how much of that depends on the
# method: about half. Prompt similarity's prompts within one run: image sd 0.09, the prompts' means 0.05-0.15 apart.
WORLD_SPREADS = Spreads(concept=0.20, method_by_concept=0.10, seed=0.25, image=0.25, prompt=0.10)
PROMPTS = 9  # the default's context prompts
# (concepts, training seeds, images per prompt): the default's, a small study's, the world study's.
DESIGNS = ((2, 1, 5), (8, 3, 5), (30, 3, 25))


def _covers(interval: tuple[float, float], truth: float) -> float:
    low, high = interval
    return float(low <= truth <= high) if np.isfinite(low) else float("nan")


def coverage(concepts: int, seeds: int, images: int, replicates: int = 2000, spreads: Spreads = WORLD_SPREADS,
             methods: int = 3, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Over `replicates` simulated studies in which every method has mean 0.5: the share of intervals that cover
    their truth (a run's expected score, on one prompt and averaged over prompts; a concept's expected value over
    seeds; the method's mean; a difference of two methods' means), the share of pairs whose paired t test rejects
    at 1 - level, and the share of studies in which any Holm-adjusted p of a metric's pairs does (the family-wise
    error). NaN where nothing is printed."""
    rng = np.random.default_rng(seed)
    alpha = 1 - level
    found = {key: [] for key in ("run", "run_prompts", "concept", "method", "difference", "rejection", "familywise")}
    for _ in range(replicates):
        concept_effect = rng.normal(0, spreads.concept, concepts)
        truth_concept = 0.5 + concept_effect + rng.normal(0, spreads.method_by_concept, (methods, concepts))
        truth_run = truth_concept[..., None] + rng.normal(0, spreads.seed, (methods, concepts, seeds))
        scores = truth_run[..., None] + rng.normal(0, spreads.image, (methods, concepts, seeds, images))
        # One run's interval and one concept's are as good as any: they are alike by construction.
        found["run"].append(_covers(run_interval({"plain": scores[0, 0, 0]}, pooled=False, level=level),
                                    truth_run[0, 0, 0]))
        # A prompt-axis run: PROMPTS context prompts, each with its own expected score, the metric their means' mean.
        prompt_truth = truth_run[0, 0, 0] + rng.normal(0, spreads.prompt, PROMPTS)
        per_prompt = {f"p{k}": t + rng.normal(0, spreads.image, images) for k, t in enumerate(prompt_truth)}
        found["run_prompts"].append(_covers(run_interval(per_prompt, pooled=False, level=level), prompt_truth.mean()))
        run_means = scores.mean(axis=3)
        if seeds > 1:  # with one seed a concept's row is its run's, whose truth is the run's
            found["concept"].append(_covers(t_interval(run_means[0, 0], level), truth_concept[0, 0]))
        values = run_means.mean(axis=2)  # methods x concepts: each concept's mean over seeds
        enough = concepts >= MIN_CONCEPTS
        found["method"].append(_covers(t_interval(values[0], level), 0.5) if enough else float("nan"))
        if enough:
            differences = [values[a] - values[b] for a in range(methods) for b in range(a + 1, methods)]
            found["difference"].append(_covers(t_interval(differences[0], level), 0.0))
            p_values = [paired_t_p(d) for d in differences]
            found["rejection"] += [float(p < alpha) for p in p_values]
            found["familywise"].append(float(any(holm(p_values) < alpha)))
    return {key: float(np.mean(values)) if values and not np.isnan(values).all() else float("nan")
            for key, values in found.items()}
