# Scores per concept x method (and the reference levels per concept), then one tidy table for everything.


rule metrics:
    input:
        unpack(lambda wc: PLAN.metric_inputs(wc.concept, wc.method)),
    output:
        "results/metrics/{concept}/{method}.csv",
    params:
        extractors=PLAN.extractors,
        metrics=PLAN.cfg["metrics"],
        context_ids=PLAN.context_ids,
        reference=lambda wc: wc.method == REFERENCE,
        oracle=lambda wc: PLAN.oracle_task(wc.concept),
    log:
        "logs/metrics/{concept}/{method}.log",
    benchmark:
        "benchmarks/metrics/{concept}/{method}.tsv"
    # `_reference` (targets vs targets, base vs base) can never clash with a method name, which starts alphanumeric.
    wildcard_constraints:
        method=f"{REFERENCE}|{NAME_PATTERN}",
    threads: 1
    resources:
        **PLAN.resources("metrics", 10, 4000),
    conda:
        ENV
    script:
        "../scripts/metrics.py"


rule aggregate:
    input:
        PLAN.metric_tables(),
    output:
        table=report("results/summary/metrics.csv", caption="../report/metrics.rst", category="Tables"),
        markdown="results/summary/metrics.md",
    params:
        provenance=PLAN.provenance(),
        base_model=PLAN.cfg["base_model"],
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
