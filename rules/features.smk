# Features: one job per image group embeds it with every extractor (one process start, the images read once) and
# writes one file per extractor (one tensor per image set inside). Metrics read only these files.
# Adding an extractor re-embeds every group, which costs seconds; training and generation are not touched.


rule features_targets:
    input:
        images="results/targets/{concept}",
        models=PLAN.extractor_inputs(),
    output:
        PLAN.feature_files("targets/{concept}"),
    params:
        sets={"targets": ""},
        sources=PLAN.extractor_sources(),
        device=PLAN.cfg["device"],
        world_weights=PLAN.world_weights(),
    log:
        "logs/features/targets/{concept}.log",
    benchmark:
        "benchmarks/features/targets/{concept}.tsv"
    threads: PLAN.threads("features")
    resources:
        **PLAN.resources("features", 30, 4000),
    conda:
        ENV
    script:
        "../scripts/features.py"


rule features_images:
    input:
        images="results/images/{concept}/{method}",
        models=PLAN.extractor_inputs(),
    output:
        PLAN.feature_files("images/{concept}/{method}"),
    params:
        sets={pid: pid for pid in PLAN.prompts},
        sources=PLAN.extractor_sources(),
        device=PLAN.cfg["device"],
        world_weights=PLAN.world_weights(),
    log:
        "logs/features/images/{concept}/{method}.log",
    benchmark:
        "benchmarks/features/images/{concept}/{method}.tsv"
    threads: PLAN.threads("features")
    resources:
        **PLAN.resources("features", 30, 4000),
    conda:
        ENV
    script:
        "../scripts/features.py"


rule features_baselines:
    input:
        images="results/baselines/{cls}",
        models=PLAN.extractor_inputs(),
    output:
        PLAN.feature_files("baselines/{cls}"),
    params:
        sets={f"{pid}/{half}": f"{pid}/{half}" for pid in PLAN.prompts for half in ("a", "b")},
        sources=PLAN.extractor_sources(),
        device=PLAN.cfg["device"],
        world_weights=PLAN.world_weights(),
    log:
        "logs/features/baselines/{cls}.log",
    benchmark:
        "benchmarks/features/baselines/{cls}.tsv"
    threads: PLAN.threads("features")
    resources:
        **PLAN.resources("features", 30, 4000),
    conda:
        ENV
    script:
        "../scripts/features.py"


rule text_features:
    input:
        model=PLAN.extractor_input("clip"),
    output:
        "results/features/clip/text/{cls}.safetensors",
    params:
        texts=lambda wc: PLAN.text_prompts(wc.cls),
        source=PLAN.extractor_sources()["clip"] if "clip" in PLAN.extractors else None,
        device=PLAN.cfg["device"],
        world_weights=PLAN.world_weights(),
    log:
        "logs/features/clip/text/{cls}.log",
    benchmark:
        "benchmarks/features/clip/text/{cls}.tsv"
    threads: 1
    resources:
        **PLAN.resources("features", 30, 4000),
    conda:
        ENV
    script:
        "../scripts/text_features.py"
