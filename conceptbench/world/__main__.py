"""The world's command line: `python -m conceptbench.world concepts --n 32 --out data/world_study [--seed 0]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from conceptbench.world.individuals import make_individuals, write_individuals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conceptbench.world")
    commands = parser.add_subparsers(dest="command", required=True)
    concepts = commands.add_parser("concepts", help="write generated individuals as concept folders")
    concepts.add_argument("--n", type=int, default=32, help="how many individuals (default 32: 4 per class)")
    concepts.add_argument("--out", type=Path, required=True, help="folder to write one sub-folder per individual")
    concepts.add_argument("--seed", type=int, default=0, help="seed of every choice (default 0)")
    concepts.add_argument("--size", type=int, default=32, help="photo side in pixels (default 32)")
    args = parser.parse_args(argv)
    try:
        individuals = make_individuals(args.n, args.seed)
    except ValueError as error:
        parser.error(str(error))
    write_individuals(individuals, args.out, args.size)
    for individual in individuals:
        print(individual.describe())
    print(f"{len(individuals)} concepts in {args.out}; whether the base model draws them is not checked here: "
          f"python -m conceptbench.world_models novelty {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
