"""Rules features_*: embed every image set of one group with every extractor -> one safetensors file each; for a
class's baselines also the CLIP text embeddings of its prompts (concept phrase replaced by the class noun)."""
from conceptbench.jobs import start_job  # first: it readies the process for the imports below

from pathlib import Path

from conceptbench.diffusion.devices import pick_device
from conceptbench.inputs.prompts import images_in_set
from conceptbench.scoring.extractors import Extractor, load_image_set
from conceptbench.scoring.feature_files import save_features

log = start_job(snakemake)
p = snakemake.params
root = Path(snakemake.input.images)
images = {key: load_image_set(root / sub, images_in_set(p.set_size, key), made_by=root)
          for key, sub in p.sets.items()}
text_outputs = list(snakemake.output.get("text") or [])  # features_baselines only, and only with a CLIP extractor
for kind, out in zip(p.sources, snakemake.output.features):
    extractor = Extractor(kind, p.sources[kind], device=pick_device(p.device))
    save_features(out, {key: extractor.embed_images(batch) for key, batch in images.items()}, extractor)
    log(f"{kind} features of {len(images)} set(s) from {root} -> {out}" +
        (" (RANDOM WEIGHTS: plumbing only)" if extractor.random_weights else ""))
    if kind == "clip" and text_outputs:
        ids = list(p.texts)
        embeddings = extractor.embed_texts([p.texts[i] for i in ids]) if ids else []
        save_features(text_outputs[0], {i: embeddings[k:k + 1] for k, i in enumerate(ids)}, extractor)
        log(f"clip text embeddings of {len(ids)} prompt(s) -> {text_outputs[0]}")
