"""Rule text_features: CLIP text embeddings of the prompts (concept phrase replaced by the class noun)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # the checkout's library, also inside conda envs

from conceptbench.feature_files import save_features
from conceptbench.features import Extractor
from conceptbench.generate import pick_device
from conceptbench.jobs import start_job

log = start_job(snakemake)
p = snakemake.params
extractor = Extractor("clip", p.source, device=pick_device(p.device))
ids = list(p.texts)
embeddings = extractor.embed_texts([p.texts[i] for i in ids]) if ids else []
save_features(snakemake.output[0], {i: embeddings[k:k + 1] for k, i in enumerate(ids)}, extractor)
log(f"embedded {len(ids)} prompt(s)")
