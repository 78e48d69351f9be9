"""How often the project's intervals cover their truth, and its comparisons reject under the null, in simulated
studies with the spreads measured on the world (conceptbench/scoring/simulation.py).

    python bench/coverage.py [--replicates 2000]
"""

from __future__ import annotations

import argparse

from conceptbench.scoring.simulation import DESIGNS, WORLD_SPREADS, coverage

COLUMNS = {"run": "run", "run_prompts": "run (9 prompts)", "concept": "concept", "method": "method",
           "difference": "difference", "rejection": "rejection", "familywise": "familywise"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000)
    args = parser.parse_args()
    print(f"spreads: {WORLD_SPREADS}; {args.replicates} simulated studies per design; 95% intervals, tests at 5%")
    print("| concepts, seeds, images | " + " | ".join(COLUMNS.values()) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for design in DESIGNS:
        found = coverage(*design, replicates=args.replicates)
        cells = ["—" if found[c] != found[c] else f"{found[c]:.3f}" for c in COLUMNS]  # NaN: nothing printed
        print(f"| {', '.join(map(str, design))} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
