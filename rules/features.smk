# Features: one job per image group embeds it with every extractor (one process start, the images read once) and
# writes one file per extractor (one tensor per image set inside). Metrics read only these files.
# Adding an extractor re-embeds every group, which costs seconds; training and generation are not touched.
# The class's CLIP text embeddings (for text_alignment_clip) come with its baselines' features: the same CLIP
# model, already loaded, and the same prompts; a job of their own would cost a process start (~10 s) for 10 texts.
# The extractors run on `device`, so with device: cuda these jobs request a GPU like the other GPU rules.


rule features_targets:
    input:
        images="results/targets/{concept}",
        models=PLAN.extractor_inputs(),
    output:
        features=PLAN.feature_files("targets/{concept}"),
    params:
        code=code_of("features"),  # its script and the library code it imports
        sets={"targets": ""},
        set_size=None,  # the concept's photos, however many
        sources=PLAN.extractor_sources(),
        device=PLAN.device,
        world_weights=PLAN.world_weights(),
    log:
        "logs/features/targets/{concept}.log",
    benchmark:
        "benchmarks/features/targets/{concept}.tsv"
    threads: PLAN.threads("features")
    resources:
        **PLAN.resources("features", 30, 4000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/features.py"


rule features_images:
    input:
        images="results/images/{concept}/{method}",
        models=PLAN.extractor_inputs(),
    output:
        features=PLAN.feature_files("images/{concept}/{method}"),
    params:
        code=code_of("features"),  # its script and the library code it imports
        sets=lambda wc: PLAN.image_feature_sets(wc.concept, wc.method),
        set_size=PLAN.images_per_set(),
        sources=PLAN.extractor_sources(),
        device=PLAN.device,
        world_weights=PLAN.world_weights(),
    log:
        "logs/features/images/{concept}/{method}.log",
    benchmark:
        "benchmarks/features/images/{concept}/{method}.tsv"
    threads: PLAN.threads("features")
    resources:
        **PLAN.resources("features", 30, 4000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/features.py"


rule features_baselines:
    input:
        images="results/baselines/{cls}",
        models=PLAN.extractor_inputs(),
    output:
        features=PLAN.feature_files("baselines/{cls}"),
        text=PLAN.text_feature_files("{cls}"),
    params:
        code=code_of("features"),  # its script and the library code it imports
        sets=lambda wc: {f"{pid}/{h}": f"{pid}/{h}" for pid in PLAN.class_prompt_ids(wc.cls) for h in ("a", "b")},
        texts=lambda wc: PLAN.text_prompts(wc.cls),
        set_size=PLAN.images_per_set(),
        sources=PLAN.extractor_sources(),
        device=PLAN.device,
        world_weights=PLAN.world_weights(),
    log:
        "logs/features/baselines/{cls}.log",
    benchmark:
        "benchmarks/features/baselines/{cls}.tsv"
    threads: PLAN.threads("features")
    resources:
        **PLAN.resources("features", 30, 4000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/features.py"

