# Image sets. Seeds depend on the image index only, so every method gets the same seeds (paired comparison)
# and any set is regenerated bit for bit. One job per concept x method loads its model once.


def method_sets(wc):
    """[folder, prompt, seeds] per prompt, with the method's concept phrase in place of {c}."""
    n, seed = CFG["generation"]["num_images"], CFG["generation"]["seed"]
    phrase = concept_phrase(wc.concept, wc.method)
    return [[pid, fill(template, phrase), list(range(seed, seed + n))] for pid, template in PROMPTS.items()]


def baseline_sets(wc):
    """The same prompts for the base model with the concept phrase rewritten, in two disjoint seed halves."""
    from conceptbench.generate import SECOND_HALF_OFFSET

    n, seed = CFG["generation"]["num_images"], CFG["generation"]["seed"]
    mode = CFG["generation"]["baseline_phrase"]
    sets = []
    for pid, template in PROMPTS.items():
        prompt = baseline_prompt(template, CLASSES[wc.cls], mode)
        sets.append([f"{pid}/a", prompt, list(range(seed, seed + n))])
        sets.append([f"{pid}/b", prompt, list(range(seed + SECOND_HALF_OFFSET, seed + SECOND_HALF_OFFSET + n))])
    return sets


rule generate:
    input:
        checkpoint="results/checkpoints/{concept}/{method}",
        base_model=base_model_input(),
    output:
        directory("results/images/{concept}/{method}"),
    params:
        sets=method_sets,
        method=lambda wc: METHODS[wc.method],
        base_model=base_model_path(),
        generation=generation_settings(),
        device=CFG["device"],
    log:
        "logs/generate/{concept}/{method}.log",
    benchmark:
        "benchmarks/generate/{concept}/{method}.tsv"
    threads: threads_for("generate", 2)
    resources:
        **resources_for("generate", 60, 8000, gpu=True),
    script:
        "../scripts/generate.py"


rule baselines:
    input:
        base_model_input(),
    output:
        directory("results/baselines/{cls}"),
    params:
        sets=baseline_sets,
        method=None,
        base_model=base_model_path(),
        generation=generation_settings(),
        device=CFG["device"],
    log:
        "logs/baselines/{cls}.log",
    benchmark:
        "benchmarks/baselines/{cls}.tsv"
    threads: threads_for("baselines", 2)
    resources:
        **resources_for("baselines", 60, 8000, gpu=True),
    script:
        "../scripts/generate.py"
