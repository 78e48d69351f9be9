"""What a torch job's imports cost, and how much of it is Python's garbage collector, at two collection thresholds.

    python bench/imports.py [--repeats 5]

Each repeat starts two fresh Python processes, one at Python's default threshold (700) and one at the threshold
every workflow script sets by importing conceptbench.jobs first, in alternating order, and each imports what a
generation job imports (torch, diffusers' StableDiffusionPipeline, transformers' CLIP). Prints, per threshold, the
median import time, the median time spent in garbage collection and the number of collections.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from conceptbench.jobs import COLLECTION_THRESHOLD

DEFAULT_THRESHOLD = 700  # CPython's own

# Runs in a fresh process: set the threshold, time the imports, and time every collection through gc.callbacks.
CHILD = """
import gc, json, sys, time
gc.set_threshold({threshold}, *gc.get_threshold()[1:])
collections, started, in_gc = 0, [0.0], [0.0]
def watch(phase, info):
    global collections
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        in_gc[0] += time.perf_counter() - started[0]
        collections += 1
gc.callbacks.append(watch)
begin = time.perf_counter()
import torch
from diffusers import StableDiffusionPipeline
from transformers import CLIPTextModel
print(json.dumps({{"imports": time.perf_counter() - begin, "gc": in_gc[0], "collections": collections}}))
"""


def measure(threshold: int) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD.format(threshold=threshold)], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="processes per threshold (default 5)")
    args = parser.parse_args(argv)
    thresholds = [DEFAULT_THRESHOLD, COLLECTION_THRESHOLD]
    runs = {threshold: [] for threshold in thresholds}
    for repeat in range(args.repeats):
        order = thresholds if repeat % 2 == 0 else thresholds[::-1]  # alternate, so drift hits both alike
        for threshold in order:
            runs[threshold].append(measure(threshold))
            last = runs[threshold][-1]
            print(f"repeat {repeat + 1}, threshold {threshold:>6}: imports {last['imports']:.2f} s, "
                  f"of which garbage collection {last['gc']:.2f} s in {last['collections']} collections", flush=True)
    print(f"\n{'threshold':>9} {'imports (median)':>17} {'collection (median)':>20} {'collections':>12}")
    for threshold in thresholds:
        group = runs[threshold]
        print(f"{threshold:>9} {statistics.median(r['imports'] for r in group):>16.2f}s "
              f"{statistics.median(r['gc'] for r in group):>19.2f}s "
              f"{statistics.median(r['collections'] for r in group):>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
