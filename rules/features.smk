# Features, one file per image group and extractor (a tensor per image set inside). Metrics read only these.


rule features_targets:
    input:
        images="results/targets/{concept}",
        model=lambda wc: extractor_input(wc.extractor),
    output:
        "results/features/{extractor}/targets/{concept}.safetensors",
    params:
        sets={"targets": ""},
        source=lambda wc: extractor_source(wc.extractor),
        device=CFG["device"],
    log:
        "logs/features/{extractor}/targets/{concept}.log",
    benchmark:
        "benchmarks/features/{extractor}/targets/{concept}.tsv"
    threads: threads_for("features", 1)
    resources:
        **resources_for("features", 30, 4000),
    script:
        "../scripts/features.py"


rule features_images:
    input:
        images="results/images/{concept}/{method}",
        model=lambda wc: extractor_input(wc.extractor),
    output:
        "results/features/{extractor}/images/{concept}/{method}.safetensors",
    params:
        sets={pid: pid for pid in PROMPTS},
        source=lambda wc: extractor_source(wc.extractor),
        device=CFG["device"],
    log:
        "logs/features/{extractor}/images/{concept}/{method}.log",
    benchmark:
        "benchmarks/features/{extractor}/images/{concept}/{method}.tsv"
    threads: threads_for("features", 1)
    resources:
        **resources_for("features", 30, 4000),
    script:
        "../scripts/features.py"


rule features_baselines:
    input:
        images="results/baselines/{cls}",
        model=lambda wc: extractor_input(wc.extractor),
    output:
        "results/features/{extractor}/baselines/{cls}.safetensors",
    params:
        sets={f"{pid}/{half}": f"{pid}/{half}" for pid in PROMPTS for half in ("a", "b")},
        source=lambda wc: extractor_source(wc.extractor),
        device=CFG["device"],
    log:
        "logs/features/{extractor}/baselines/{cls}.log",
    benchmark:
        "benchmarks/features/{extractor}/baselines/{cls}.tsv"
    threads: threads_for("features", 1)
    resources:
        **resources_for("features", 30, 4000),
    script:
        "../scripts/features.py"


rule text_features:
    input:
        model=extractor_input("clip"),
    output:
        "results/features/clip/text/{cls}.safetensors",
    params:
        texts=lambda wc: {pid: baseline_prompt(PROMPTS[pid], CLASSES[wc.cls], "class") for pid in CONTEXT_IDS},
        source=extractor_source("clip"),
        device=CFG["device"],
    log:
        "logs/features/clip/text/{cls}.log",
    benchmark:
        "benchmarks/features/clip/text/{cls}.tsv"
    threads: 1
    resources:
        **resources_for("features", 30, 4000),
    script:
        "../scripts/text_features.py"
