"""Rules features_*: embed every image set of one folder with one extractor -> one safetensors file."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

from pathlib import Path

from conceptbench.features import Extractor, load_image_set, save_features
from conceptbench.generate import pick_device
from conceptbench.jobs import start_job

log = start_job(snakemake)
p = snakemake.params
extractor = Extractor(snakemake.wildcards.extractor, p.source, device=pick_device(p.device))
root = Path(snakemake.input.images)
features = {key: extractor.embed_images(load_image_set(root / sub)) for key, sub in p.sets.items()}
save_features(snakemake.output[0], features, extractor)
log(f"{extractor.kind} features of {len(features)} set(s) from {root}" +
    (" (RANDOM WEIGHTS: plumbing only)" if extractor.random_weights else ""))
