# Base model, feature extractors and the normalised concept photos: the shared starting points.


rule base_model:
    output:
        directory("results/base_model"),
    params:
        seed=CFG["seed"],
        resolution=CFG["resolution"],
    log:
        "logs/base_model.log",
    benchmark:
        "benchmarks/base_model.tsv"
    threads: 1
    resources:
        **resources_for("base_model", 10, 2000),
    script:
        "../scripts/build_base_model.py"


rule extractor_model:
    output:
        directory("results/extractors/{extractor}"),
    params:
        seed=CFG["seed"],
    log:
        "logs/extractor_model/{extractor}.log",
    benchmark:
        "benchmarks/extractor_model/{extractor}.tsv"
    threads: 1
    resources:
        **resources_for("extractor_model", 10, 2000),
    script:
        "../scripts/build_extractor.py"


rule prepare_concept:
    input:
        lambda wc: sorted(str(p) for p in CONCEPTS[wc.concept].folder.iterdir() if p.is_file()),
    output:
        directory("results/targets/{concept}"),
    params:
        folder=lambda wc: str(CONCEPTS[wc.concept].folder),
        resolution=CFG["resolution"],
    log:
        "logs/prepare_concept/{concept}.log",
    benchmark:
        "benchmarks/prepare_concept/{concept}.tsv"
    threads: 1
    resources:
        **resources_for("prepare_concept", 10, 2000),
    script:
        "../scripts/prepare_concept.py"


rule class_images:
    input:
        base_model_input(),
    output:
        directory("results/class_images/{cls}"),
    params:
        base_model=base_model_path(),
        prompt=lambda wc: f"a photo of {CLASSES[wc.cls]}",
        num_images=CFG["prior"]["num_images"],
        seed=CFG["prior"]["seed"],
        steps=CFG["prior"]["steps"],
        guidance_scale=CFG["prior"]["guidance_scale"],
        generation=generation_settings(),
        device=CFG["device"],
    log:
        "logs/class_images/{cls}.log",
    benchmark:
        "benchmarks/class_images/{cls}.tsv"
    threads: threads_for("class_images", 2)
    resources:
        **resources_for("class_images", 60, 8000, gpu=True),
    script:
        "../scripts/class_images.py"
