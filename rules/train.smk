# Train every method on every concept. Hyperparameters arrive as params, so changing one method re-runs it alone.
# Resumable state lives in results/train_state/, beside the declared output, so a failed job's clean-up keeps it.


rule train:
    input:
        unpack(lambda wc: PLAN.train_inputs(wc.concept, wc.method)),
    output:
        directory("results/checkpoints/{concept}/{method}"),
    params:
        code=code_of("train"),  # its script and the library code it imports
        method=lambda wc: PLAN.methods[wc.method],
        class_noun=lambda wc: PLAN.concepts[wc.concept].class_noun,
        base_model=lambda wc, input: PLAN.base_model(input),
        state_dir=lambda wc: PLAN.state_dir(wc.concept, wc.method),
        device=PLAN.device,
        world_weights=PLAN.world_weights(),
    log:
        "logs/train/{concept}/{method}.log",
    benchmark:
        "benchmarks/train/{concept}/{method}.tsv"
    threads: PLAN.threads("train")
    priority: 10  # the longest jobs first, so the run does not end waiting on one training
    resources:
        **PLAN.resources("train", 120, 8000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/train.py"
