"""Command line of the world: rebuild its models, or write the demo concepts' photos.

    python -m conceptbench.world_models build --out conceptbench/world/weights [--budget full|tiny] [--workers 2]
                                       [--only clip inception]
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
    args = parser.parse_args(argv)

    import torch

    from conceptbench.world_models.build import BUDGETS
    from conceptbench.world_models.build import build as run_build

    if args.threads:
        torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    run_build(args.out, BUDGETS[args.budget], workers=args.workers, log=log, only=tuple(args.only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
