# Train every method on every concept. Hyperparameters arrive as params, so changing one method re-runs it alone.
# Resumable state lives in results/train_state/, beside the declared output, so a failed job's clean-up keeps it.


def train_inputs(wc):
    inputs = {"targets": f"results/targets/{wc.concept}", "base_model": base_model_input()}
    if uses_prior(wc.method):
        inputs["class_images"] = f"results/class_images/{CONCEPTS[wc.concept].class_slug}"
    return inputs


rule train:
    input:
        unpack(train_inputs),
    output:
        directory("results/checkpoints/{concept}/{method}"),
    params:
        method=lambda wc: METHODS[wc.method],
        class_noun=lambda wc: CONCEPTS[wc.concept].class_noun,
        base_model=base_model_path(),
        state_dir=lambda wc: f"results/train_state/{wc.concept}/{wc.method}",
        device=CFG["device"],
    log:
        "logs/train/{concept}/{method}.log",
    benchmark:
        "benchmarks/train/{concept}/{method}.tsv"
    threads: threads_for("train", 2)
    resources:
        **resources_for("train", 120, 8000, gpu=True),
    script:
        "../scripts/train.py"
