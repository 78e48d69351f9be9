# Scores per concept x method (and the reference levels per concept), then one tidy table for everything.


rule metrics:
    input:
        unpack(lambda wc: PLAN.metric_inputs(wc.concept, wc.method)),
    output:
        table="results/metrics/{concept}/{method}.csv",
        scores="results/metrics/{concept}/{method}.scores.csv",
    params:
        code=code_of("metrics"),  # its script and the library code it imports
        extractors=PLAN.extractors,
        metrics=PLAN.metrics,
        snapshot_metrics=PLAN.snapshot_metrics(),
        context_ids=lambda wc: PLAN.context_ids(wc.concept),
        eval_steps=lambda wc: [] if wc.method == REFERENCE_RUN else PLAN.eval_steps(wc.method),
        reference=lambda wc: wc.method == REFERENCE_RUN,
        oracle=lambda wc: PLAN.oracle_task(wc.concept),
        set_size=PLAN.images_per_set(),
    log:
        "logs/metrics/{concept}/{method}.log",
    benchmark:
        "benchmarks/metrics/{concept}/{method}.tsv"
    # `_reference` (targets vs targets, base vs base) can never clash with a method name, which starts alphanumeric.
    wildcard_constraints:
        method=f"{REFERENCE_RUN}|{RUN_PATTERN}",
    threads: 1
    resources:
        **PLAN.resources("metrics", 10, 4000),
    conda:
        ENV
    script:
        "../scripts/metrics.py"


rule aggregate:
    input:
        tables=PLAN.metric_tables(),
    output:
        table=report("results/summary/metrics.csv", caption="../report/metrics.rst", category="Tables"),
        summary=report("results/summary/summary.csv", caption="../report/summary.rst", category="Tables"),
        comparisons=report("results/summary/comparisons.csv", caption="../report/comparisons.rst", category="Tables"),
        markdown=report("results/summary/metrics.md", caption="../report/metrics_md.rst", category="Tables"),
    params:
        code=code_of("aggregate"),  # its script and the library code it imports
        provenance=PLAN.provenance(),
        base_model=PLAN.base_model_source,
        own_seeds=PLAN.own_seeds(),
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    threads: 1
    resources:
        **PLAN.resources("aggregate", 10, 2000),
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
