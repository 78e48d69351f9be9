"""Rules features_*: embed every image set of one group with every extractor -> one safetensors file each."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

from pathlib import Path

from conceptbench.feature_files import save_features
from conceptbench.features import Extractor, load_image_set
from conceptbench.generate import pick_device
from conceptbench.jobs import start_job

log = start_job(snakemake)
p = snakemake.params
root = Path(snakemake.input.images)
images = {key: load_image_set(root / sub) for key, sub in p.sets.items()}
for kind, out in zip(p.sources, snakemake.output):
    extractor = Extractor(kind, p.sources[kind], device=pick_device(p.device))
    save_features(out, {key: extractor.embed_images(batch) for key, batch in images.items()}, extractor)
    log(f"{kind} features of {len(images)} set(s) from {root} -> {out}" +
        (" (RANDOM WEIGHTS: plumbing only)" if extractor.random_weights else ""))
