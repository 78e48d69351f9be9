# Pictures: the image-vs-prompt similarity scatter per metric family, and an image grid per concept.


rule scatter:
    input:
        "results/summary/metrics.csv",
    output:
        png=report("results/summary/similarity_{family}.png", caption="../report/scatter.rst", category="Figures"),
        svg="results/summary/similarity_{family}.svg",
    params:
        random_extractors=random_extractors(),
        error_bars=CFG["plots"]["error_bars"],
    wildcard_constraints:
        family="clip|fid",
    log:
        "logs/scatter/{family}.log",
    benchmark:
        "benchmarks/scatter/{family}.tsv"
    threads: 1
    resources:
        **resources_for("scatter", 10, 2000),
    script:
        "../scripts/scatter.py"


rule grid:
    input:
        images=lambda wc: [f"results/images/{wc.concept}/{m}" for m in METHODS],
        baselines=lambda wc: f"results/baselines/{CONCEPTS[wc.concept].class_slug}",
        targets="results/targets/{concept}",
    output:
        report("results/summary/grids/{concept}.png", caption="../report/grid.rst", category="Image grids",
               labels={"concept": "{concept}"}),
    params:
        methods=list(METHODS),
        prompts=PROMPTS,
        thumb=CFG["plots"]["grid_thumb"],
    log:
        "logs/grid/{concept}.log",
    benchmark:
        "benchmarks/grid/{concept}.tsv"
    threads: 1
    resources:
        **resources_for("grid", 10, 2000),
    script:
        "../scripts/grid.py"
