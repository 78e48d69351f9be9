# Base model, feature extractors and the normalised concept photos: the shared starting points.


rule base_model:
    output:
        directory("results/base_model"),
    params:
        kind=PLAN.cfg["base_model"],
        seed=PLAN.cfg["seed"],
        resolution=PLAN.cfg["resolution"],
    log:
        "logs/base_model.log",
    benchmark:
        "benchmarks/base_model.tsv"
    threads: 1
    resources:
        **PLAN.resources("base_model", 10, 2000),
    conda:
        ENV
    script:
        "../scripts/build_base_model.py"


rule extractor_model:
    output:
        directory("results/extractors/{extractor}"),
    params:
        seed=PLAN.cfg["seed"],
    log:
        "logs/extractor_model/{extractor}.log",
    benchmark:
        "benchmarks/extractor_model/{extractor}.tsv"
    threads: 1
    resources:
        **PLAN.resources("extractor_model", 10, 2000),
    conda:
        ENV
    script:
        "../scripts/build_extractor.py"


rule prepare_concept:
    input:
        lambda wc: sorted(str(p) for p in PLAN.concepts[wc.concept].folder.iterdir() if p.is_file()),
    output:
        directory("results/targets/{concept}"),
    params:
        folder=lambda wc: str(PLAN.concepts[wc.concept].folder),
        resolution=PLAN.cfg["resolution"],
    log:
        "logs/prepare_concept/{concept}.log",
    benchmark:
        "benchmarks/prepare_concept/{concept}.tsv"
    threads: 1
    resources:
        **PLAN.resources("prepare_concept", 10, 2000),
    conda:
        ENV
    script:
        "../scripts/prepare_concept.py"


rule class_images:
    input:
        base_model=PLAN.base_model_input(),
    output:
        directory("results/class_images/{cls}"),
    params:
        base_model=lambda wc, input: PLAN.base_model(input),
        prompt=lambda wc: f"a photo of {PLAN.classes[wc.cls]}",
        prior=PLAN.cfg["prior"],
        # Only what shapes class images: other generation settings must not re-run every DreamBooth training.
        scheduler=PLAN.cfg["generation"]["scheduler"],
        batch_size=PLAN.cfg["generation"]["batch_size"],
        resolution=PLAN.cfg["resolution"],
        device=PLAN.cfg["device"],
        world_weights=PLAN.world_weights(),
    log:
        "logs/class_images/{cls}.log",
    benchmark:
        "benchmarks/class_images/{cls}.tsv"
    threads: PLAN.threads("class_images")
    priority: 10  # DreamBooth's trainings wait on these
    resources:
        **PLAN.resources("class_images", 60, 8000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/class_images.py"
