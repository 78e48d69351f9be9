# The world's own report: how well builtin:world draws world captions, as the world oracle sees it (only when the
# base model is builtin:world). Generation, oracle and FID/KID in one job: it reads no other job's output.


rule world_quality:
    output:
        markdown=report("results/summary/world_quality.md", caption="../report/world_quality.rst", category="Tables"),
        table="results/summary/world_quality.csv",
    params:
        code=code_of("world_quality"),  # its script and the library code it imports
        **PLAN.world_quality_settings(),
        world_weights=PLAN.world_weights(),
    log:
        "logs/world_quality.log",
    benchmark:
        "benchmarks/world_quality.tsv"
    threads: PLAN.threads("world_quality")
    resources:
        **PLAN.resources("world_quality", 30, 4000, gpu=True),
    conda:
        ENV
    script:
        "../scripts/world_quality.py"
