# Pictures: the image-vs-prompt similarity scatter per metric family, and an image grid per concept.


rule scatter:
    input:
        "results/summary/metrics.csv",
    output:
        png=report("results/summary/similarity_{family}.png", caption="../report/scatter.rst", category="Figures"),
        svg="results/summary/similarity_{family}.svg",
    params:
        code=code_of("scatter"),  # its script and the library code it imports
        provenance=PLAN.provenance(),
        error_bars=PLAN.plots["error_bars"],
        own_seeds=PLAN.own_seeds(),
    wildcard_constraints:
        family="|".join(metric_axes()),
    log:
        "logs/scatter/{family}.log",
    benchmark:
        "benchmarks/scatter/{family}.tsv"
    threads: 1
    resources:
        **PLAN.resources("scatter", 10, 2000),
    conda:
        ENV
    script:
        "../scripts/scatter.py"


rule tradeoff:
    input:
        "results/summary/metrics.csv",
    output:
        png=report("results/summary/tradeoff_{family}.png", caption="../report/tradeoff.rst", category="Figures"),
        svg="results/summary/tradeoff_{family}.svg",
    params:
        code=code_of("tradeoff"),  # its script and the library code it imports
        paths=PLAN.tradeoff_paths(),
        provenance=PLAN.provenance(),
        own_seeds=PLAN.own_seeds(),
    wildcard_constraints:
        family="|".join(metric_axes()),
    log:
        "logs/tradeoff/{family}.log",
    benchmark:
        "benchmarks/tradeoff/{family}.tsv"
    threads: 1
    resources:
        **PLAN.resources("tradeoff", 10, 2000),
    conda:
        ENV
    script:
        "../scripts/tradeoff.py"


rule grid:
    input:
        images=lambda wc: [f"results/images/{wc.concept}/{m}" for m in PLAN.grid_methods()],
        baselines=lambda wc: f"results/baselines/{PLAN.class_slug(wc.concept)}",
        targets="results/targets/{concept}",
    output:
        report(
            "results/summary/grids/{concept}.png",
            caption="../report/grid.rst",
            category="Image grids",
            labels={"concept": "{concept}"},
        ),
    params:
        code=code_of("grid"),  # its script and the library code it imports
        methods=PLAN.grid_methods(),
        prompts=lambda wc: PLAN.concept_prompts(wc.concept),
        thumb=PLAN.plots["grid_thumb"],
        # Only the label: the full text names the extractors, and dropping one must not redraw the grids.
        provenance_label=(PLAN.provenance() or {}).get("label"),
    log:
        "logs/grid/{concept}.log",
    benchmark:
        "benchmarks/grid/{concept}.tsv"
    threads: 1
    resources:
        **PLAN.resources("grid", 10, 2000),
    conda:
        ENV
    script:
        "../scripts/grid.py"
