# Scores per concept x method (and the reference levels per concept), then one tidy table for everything.


def needs_text():
    return "text_alignment_clip" in CFG["metrics"]


def metric_inputs(wc):
    cls = CONCEPTS[wc.concept].class_slug
    inputs = {
        "targets": [f"results/features/{e}/targets/{wc.concept}.safetensors" for e in EXTRACTORS],
        "baselines": [f"results/features/{e}/baselines/{cls}.safetensors" for e in EXTRACTORS],
        "text": [f"results/features/clip/text/{cls}.safetensors"] if needs_text() else [],
    }
    if wc.method != "_reference":
        inputs["images"] = [f"results/features/{e}/images/{wc.concept}/{wc.method}.safetensors" for e in EXTRACTORS]
    return inputs


rule metrics:
    input:
        unpack(metric_inputs),
    output:
        "results/metrics/{concept}/{method}.csv",
    params:
        extractors=EXTRACTORS,
        metrics=CFG["metrics"],
        context_ids=CONTEXT_IDS,
    log:
        "logs/metrics/{concept}/{method}.log",
    benchmark:
        "benchmarks/metrics/{concept}/{method}.tsv"
    # `_reference` (targets vs targets, base vs base) can never clash with a method name, which starts alphanumeric.
    wildcard_constraints:
        method=f"_reference|{NAME_PATTERN}",
    threads: 1
    resources:
        **resources_for("metrics", 10, 4000),
    script:
        "../scripts/metrics.py"


rule aggregate:
    input:
        expand("results/metrics/{concept}/{method}.csv", concept=CONCEPTS, method=[*METHODS, "_reference"]),
    output:
        table=report("results/summary/metrics.csv", caption="../report/metrics.rst", category="Tables"),
        markdown="results/summary/metrics.md",
    params:
        random_extractors=random_extractors(),
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    threads: 1
    resources:
        **resources_for("aggregate", 10, 2000),
    script:
        "../scripts/aggregate.py"
