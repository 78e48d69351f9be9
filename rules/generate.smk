# Image sets. Seeds depend on the image index only, so every method gets the same seeds (paired comparison)
# and any set is regenerated bit for bit. One job per concept x method loads its model once.


rule generate:
    input:
        checkpoint="results/checkpoints/{concept}/{method}",
        base_model=PLAN.base_model_input(),
    output:
        directory("results/images/{concept}/{method}"),
    params:
        code=code_of("generate"),  # its script and the library code it imports
        sets=lambda wc: PLAN.method_sets(wc.concept, wc.method),
        # The snapshots' images (eval_steps) come from the same job: a new eval step retrains the method anyway.
        snapshot_sets=lambda wc: PLAN.snapshot_sets(wc.concept, wc.method),
        method=lambda wc: PLAN.methods[wc.method],
        base_model=lambda wc, input: PLAN.base_model(input),
        generation=PLAN.generation(),
        device=PLAN.device,
        world_weights=PLAN.world_weights(),
    log:
        "logs/generate/{concept}/{method}.log",
    benchmark:
        "benchmarks/generate/{concept}/{method}.tsv"
    threads: PLAN.threads("generate")
    priority: 5  # after the trainings, before the short jobs that could fill the other cores meanwhile
    resources:
        **PLAN.resources("generate", 60, 8000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/generate.py"


rule baselines:
    input:
        base_model=PLAN.base_model_input(),
    output:
        directory("results/baselines/{cls}"),
    params:
        code=code_of("generate"),  # its script and the library code it imports
        sets=lambda wc: PLAN.baseline_sets(wc.cls),
        snapshot_sets=[],
        method=None,
        base_model=lambda wc, input: PLAN.base_model(input),
        generation=PLAN.generation(),
        device=PLAN.device,
        world_weights=PLAN.world_weights(),
    log:
        "logs/baselines/{cls}.log",
    benchmark:
        "benchmarks/baselines/{cls}.tsv"
    threads: PLAN.threads("baselines")
    priority: 5
    resources:
        **PLAN.resources("baselines", 60, 8000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/generate.py"
