"""Scoring generated images: feature extraction and its files, the metrics, and how sure they are.

- `extractors`, `inception`, `feature_files`: CLIP, DINO, the FID Inception network and the world oracle, and
  the one-file-per-(image set, extractor) feature files the metrics read;
- `registry`: every metric family in one table; `family`: what a family is (how it scores a run and each image)
  and the feature sets of one scored run; `arrays`: feature sets as checked matrices;
- `similarity`, `distances`, `oracle`: the functional cores (cosines; FID and KID; the oracle's hits), each with
  its families;
- `rows`: a run's tidy rows and each image's score, through the registry;
- `uncertainty`: the statistical model (intervals at each level, summaries over concepts, paired comparisons);
  `simulation`: studies with a known truth that check its coverage; `job`: what the metrics rule does.

May import: conceptbench.diffusion (model sources, tokenizers), conceptbench.world and the leaves.
"""
