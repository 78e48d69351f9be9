# Features, one file per image group and extractor (one tensor per image set inside). Metrics read only these.


rule features_targets:
    input:
        images="results/targets/{concept}",
        model=lambda wc: PLAN.extractor_input(wc.extractor),
    output:
        "results/features/{extractor}/targets/{concept}.safetensors",
    params:
        sets={"targets": ""},
        source=lambda wc, input: PLAN.extractor_source(wc.extractor, input),
        device=PLAN.cfg["device"],
    log:
        "logs/features/{extractor}/targets/{concept}.log",
    benchmark:
        "benchmarks/features/{extractor}/targets/{concept}.tsv"
    threads: PLAN.threads("features", 1)
    resources:
        **PLAN.resources("features", 30, 4000),
    conda:
        ENV
    script:
        "../scripts/features.py"


rule features_images:
    input:
        images="results/images/{concept}/{method}",
        model=lambda wc: PLAN.extractor_input(wc.extractor),
    output:
        "results/features/{extractor}/images/{concept}/{method}.safetensors",
    params:
        sets={pid: pid for pid in PLAN.prompts},
        source=lambda wc, input: PLAN.extractor_source(wc.extractor, input),
        device=PLAN.cfg["device"],
    log:
        "logs/features/{extractor}/images/{concept}/{method}.log",
    benchmark:
        "benchmarks/features/{extractor}/images/{concept}/{method}.tsv"
    threads: PLAN.threads("features", 1)
    resources:
        **PLAN.resources("features", 30, 4000),
    conda:
        ENV
    script:
        "../scripts/features.py"


rule features_baselines:
    input:
        images="results/baselines/{cls}",
        model=lambda wc: PLAN.extractor_input(wc.extractor),
    output:
        "results/features/{extractor}/baselines/{cls}.safetensors",
    params:
        sets={f"{pid}/{half}": f"{pid}/{half}" for pid in PLAN.prompts for half in ("a", "b")},
        source=lambda wc, input: PLAN.extractor_source(wc.extractor, input),
        device=PLAN.cfg["device"],
    log:
        "logs/features/{extractor}/baselines/{cls}.log",
    benchmark:
        "benchmarks/features/{extractor}/baselines/{cls}.tsv"
    threads: PLAN.threads("features", 1)
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
        source=lambda wc, input: PLAN.extractor_source("clip", input),
        device=PLAN.cfg["device"],
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
