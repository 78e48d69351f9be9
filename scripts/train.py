"""Rule train: one method on one concept -> artifact + loss.csv + metadata.json (resumes from saved state)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.methods.job import train_concept

log = start_job(snakemake)
p = snakemake.params
train_concept(
    base_model=p.base_model,
    targets_dir=snakemake.input.targets,
    class_images_dir=snakemake.input.get("class_images"),
    concept_name=snakemake.wildcards.concept,
    class_noun=p.class_noun,
    method_name=snakemake.wildcards.method,
    params=dict(p.method),
    out_dir=snakemake.output[0],
    state_dir=p.state_dir,
    log=log,
    device=p.device,
)
