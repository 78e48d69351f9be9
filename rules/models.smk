# Base model, feature extractors and the normalised concept photos: the shared starting points.


rule base_model:
    output:
        directory("results/base_model"),
    params:
        code=code_of("build_base_model"),  # its script and the library code it imports
        **PLAN.base_model_build(),
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
        code=code_of("build_extractor"),  # its script and the library code it imports
        seed=PLAN.extractor_seed(),
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
        lambda wc: PLAN.concept_files(wc.concept),
    output:
        directory("results/targets/{concept}"),
    params:
        code=code_of("prepare_concept"),  # its script and the library code it imports
        folder=lambda wc: str(PLAN.concepts[wc.concept].folder),
        resolution=PLAN.resolution,
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
        code=code_of("class_images"),  # its script and the library code it imports
        base_model=lambda wc, input: PLAN.base_model(input),
        prompt=lambda wc: PLAN.class_images_prompt(wc.cls),
        **PLAN.class_images_settings(),
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
