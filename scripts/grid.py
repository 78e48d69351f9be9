"""Rule grid: the first image of every set for one concept (rows: methods, base model, targets; columns: prompts)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from pathlib import Path

from conceptbench.report.grid import image_grid

log = start_job(snakemake)
p = snakemake.params
prompts = list(p.prompts)


def first_image(folder):
    images = sorted(Path(folder).glob("*.png"))
    return images[0] if images else None


rows = [(method, [first_image(Path(folder) / pid) for pid in prompts])
        for method, folder in zip(p.methods, snakemake.input.images)]
rows.append(("base model", [first_image(Path(snakemake.input.baselines) / pid / "a") for pid in prompts]))
targets = sorted(Path(snakemake.input.targets).glob("*.png"))
rows.append(("targets", [targets[i] if i < len(targets) else None for i in range(len(prompts))]))
image_grid(rows, [p.prompts[pid] for pid in prompts], snakemake.output[0], thumb=p.thumb,
           footer=p.provenance_label)
log(f"wrote {snakemake.output[0]}")
