"""Rule prepare_concept: check the concept photos and write them normalised (RGB, square, model resolution)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from conceptbench.files import AtomicFolder
from conceptbench.inputs.concepts import load_concept_images, write_normalised_images

log = start_job(snakemake)
images = load_concept_images(snakemake.params.folder, snakemake.params.resolution)
with AtomicFolder(snakemake.output[0]) as tmp:
    write_normalised_images(images, tmp)
log(f"{len(images)} images from {snakemake.params.folder} -> {snakemake.output[0]}")
