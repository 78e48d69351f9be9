"""Command line of the world's models: rebuild them, or check that concepts are new to the base model.

    python -m conceptbench.world_models build --out conceptbench/world/weights [--budget full|tiny] [--workers 2]
                                       [--only clip inception]
    python -m conceptbench.world_models novelty data/world_study [--images 25]
    python -m conceptbench.world_models concepts --n 32 --out data/world_study [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from conceptbench.diffusion.sources import WORLD_MODEL_KINDS, WORLD_WEIGHTS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conceptbench.world_models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="train every world model from scratch and write its model card")
    build.add_argument("--out", type=Path, default=WORLD_WEIGHTS_DIR, help=f"output folder (default {WORLD_WEIGHTS_DIR})")
    build.add_argument("--budget", choices=["full", "tiny"], default="full",
                       help="full: the recorded settings of the committed models; tiny: a few steps, to test")
    build.add_argument("--workers", type=int, default=1, help="processes that render world scenes")
    build.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    build.add_argument("--only", nargs="+", choices=WORLD_MODEL_KINDS, default=list(WORLD_MODEL_KINDS),
                       help="retrain only these models and keep the others from --out (default: all)")
    novelty = commands.add_parser("novelty", help="the base model's images of each concept's class against its "
                                  "photos, on the world's CLIP and DINO")
    novelty.add_argument("concepts_dir", type=Path, help="a folder of concept folders (each with concept.yaml)")
    novelty.add_argument("--images", type=int, default=25, help="base-model images per class (default 25)")
    concepts = commands.add_parser("concepts", help="write the first novel generated individuals of each class")
    concepts.add_argument("--n", type=int, default=32, help="how many (default 32: 4 per class)")
    concepts.add_argument("--out", type=Path, required=True, help="folder to write one sub-folder per concept")
    concepts.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    concepts.add_argument("--images", type=int, default=25, help="base-model images per class (default 25)")
    args = parser.parse_args(argv)
    if args.command == "novelty":
        return _novelty(args.concepts_dir, args.images)
    if args.command == "concepts":
        return _concepts(args.n, args.out, args.seed, args.images)

    import torch

    from conceptbench.world_models.build import BUDGETS
    from conceptbench.world_models.build import build as run_build

    if args.threads:
        torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    run_build(args.out, BUDGETS[args.budget], workers=args.workers, log=log, only=tuple(args.only))
    return 0


def _novelty(concepts_dir: Path, n_images: int) -> int:
    from conceptbench.world_models.novelty import novel_concepts, novelty_table

    table = novelty_table(concepts_dir, n_images)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    novel = novel_concepts(table)
    not_novel = [name for name, ok in novel.items() if not ok]
    print(f"{len(novel) - len(not_novel)} of {len(novel)} concepts novel to builtin:world on CLIP and DINO"
          + (f"; not novel: {', '.join(not_novel)}" if not_novel else ""))
    return 1 if not_novel else 0


def _concepts(n: int, out: Path, seed: int, n_images: int) -> int:
    from conceptbench.world_models.novelty import novel_individuals

    kept, table = novel_individuals(n, out, seed, n_images, log=lambda message: None)
    dropped = sorted(set(table.loc[~table["novel"], "concept"]))
    for individual in kept:
        print(individual.describe())
    print(f"{len(kept)} novel concepts in {out} (not novel, left out: {', '.join(dropped) or 'none'}); "
          f"every candidate's numbers: {out / 'novelty.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
