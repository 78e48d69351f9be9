"""Names of what gets trained and evaluated: a method entry, its training seeds, its snapshots.

A method entry `lora` trained with its own seed is the run `lora`; with another of the config's `seeds` it is
`lora@seed1`, a run of its own (its own jobs and folders). A snapshot at step 50 (`eval_steps`) is scored as
`lora@step50` (or `lora@seed1@step50`). Method names cannot contain `@`, so these never clash with an entry.
The summaries pool a method's seeds: pool_seeds turns the run name back into the method and a `seed` column
(scoring/uncertainty.py averages them).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from conceptbench.names import NAME_PATTERN

if TYPE_CHECKING:  # pandas is imported where a table is made: the training and generation jobs need none
    import pandas as pd

SEED_MARK, STEP_MARK = "@seed", "@step"
# The reference levels (targets vs targets, base model vs base model) are scored like a run: their rows carry the
# method "reference", their jobs and files the name "_reference", which no method entry can have.
REFERENCE_METHOD = "reference"
REFERENCE_RUN = "_reference"
# The untrained base model, scored like a method from its own images of the same prompts (the class noun in place
# of the concept phrase): the row every method's gain is measured against. The reference's job scores it.
BASE_MODEL_METHOD = "base_model"
RUN_PATTERN = rf"{NAME_PATTERN}(?:{SEED_MARK}[0-9]+)?"  # the `method` wildcard of the jobs
_NAME_RE = re.compile(rf"^(?P<method>{NAME_PATTERN})(?:{SEED_MARK}(?P<seed>[0-9]+))?(?:{STEP_MARK}(?P<step>[0-9]+))?$")


def run_name(method: str, seed: int, own_seed: int) -> str:
    """The run of `method` trained with `seed`: the plain name for the entry's own seed (so adding seeds renames
    nothing already trained)."""
    return method if seed == own_seed else f"{method}{SEED_MARK}{seed}"


def snapshot_name(run: str, step: int) -> str:
    return f"{run}{STEP_MARK}{step}"


def is_snapshot(name: str) -> bool:
    return STEP_MARK in name


# Where a snapshot lives: its artifact inside the checkpoint folder, its images inside the method's image set, and
# its features under keys "step<N>/<prompt id>" in the method's feature files.
SNAPSHOT_FOLDER = "snapshots"


def snapshot_folder(step: int) -> str:
    return f"{SNAPSHOT_FOLDER}/step{step}"


def feature_key(prompt_id: str, step: int | None = None) -> str:
    """A feature file's key for a prompt's images: the final artifact's, or the snapshot's at `step`."""
    return prompt_id if step is None else f"step{step}/{prompt_id}"


def split_name(name: str) -> tuple[str, int | None, int | None]:
    """'lora@seed1@step50' -> ('lora', 1, 50); 'lora' -> ('lora', None, None); other names (the reference) as they
    are."""
    match = _NAME_RE.match(name)
    if not match:
        return name, None, None
    seed, step = match["seed"], match["step"]
    return match["method"], None if seed is None else int(seed), None if step is None else int(step)


def pool_seeds(table: pd.DataFrame, own_seeds: dict[str, int]) -> pd.DataFrame:
    """Rows of runs (`method` = run name) as rows of methods: `method` without its seed mark, and a `seed` column
    (the entry's own seed where the name has none). Snapshot marks stay: 'lora@seed1@step50' -> 'lora@step50'."""
    out = table.copy()
    parts = [split_name(name) for name in out["method"]]
    out["seed"] = [own_seeds.get(method, 0) if seed is None else seed for method, seed, _ in parts]
    out["method"] = [method if step is None else snapshot_name(method, step) for method, _, step in parts]
    return out
