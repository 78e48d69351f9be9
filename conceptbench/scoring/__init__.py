"""Scoring generated images: feature extraction and its files, the metrics, and how sure they are.

- `extractors`, `inception`, `feature_files`: CLIP, DINO, the FID Inception network and the world oracle, and
  the one-file-per-(image set, extractor) feature files the metrics read;
- `registry`: every metric family in one table (name, extractors, how it scores a run and each image);
- `similarity`, `distances`, `oracle`: the functional cores (cosines; FID and KID; the oracle's hits);
- `rows`: a run's tidy rows and each image's score, through the registry;
- `uncertainty`: intervals, summaries over concepts, paired comparisons; `job`: what the metrics rule does.

May import: conceptbench.diffusion (model sources, tokenizers), conceptbench.world and the leaves.
"""
