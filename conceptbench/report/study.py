"""The world study's report (docs/world_study.md), printed from a finished run of config/world_study.yaml, so that
every number in it is that run's:

    python -m conceptbench.report.study RUN_DIR --keep docs/world_study > docs/world_study.md
    python -m conceptbench.report.study docs/world_study          # the same report, from the kept tables

From the run's results/summary/ (the aggregate rule's tables) it prints what was run, each method's mean over
concepts with its interval, each method's gain over the untrained base model, the paired comparisons between
methods with Holm-adjusted p, the trade-off between a snapshot and the final weights, and a verdict on each of the
three claims of the earlier seed study; from its logs, the run's wall time and the CPU time its jobs used.
`--keep DIR` copies those tables and the cost into DIR (committed: docs/world_study/), from which the report prints
again without the run (tests/unit/report/test_study.py checks docs/world_study.md against them).

A verdict is read off the paired comparisons (unit: the concept; p adjusted over each metric's pairs):
"supported" when the claimed method differs from every other method in the claimed direction at adjusted
p < ALPHA, "contradicted" when some other method differs from it in the opposite direction at adjusted p < ALPHA,
otherwise "not resolved", naming the methods it cannot be told from.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from conceptbench.report.readme import novelty_table
from conceptbench.report.tables import comparisons_markdown, number, summary_table, trade_off_table
from conceptbench.runs import BASE_MODEL_METHOD, REFERENCE_METHOD, is_snapshot
from conceptbench.scoring.uncertainty import method_rows, method_summary

ALPHA = 0.05  # on the Holm-adjusted p of each metric's pairs
STUDY_METRICS = ("image_similarity_clip", "image_similarity_dino", "image_kid_inception", "prompt_similarity_clip",
                 "prompt_kid_inception", "class_accuracy_oracle", "context_accuracy_oracle")
TRADE_OFF_METRICS = ("image_similarity_clip", "image_similarity_dino", "prompt_similarity_clip")
NAMES = {"textual_inversion": "Textual Inversion", "dreambooth": "DreamBooth", "lora": "LoRA",
         "pivotal_tuning": "pivotal tuning", "custom_diffusion": "Custom Diffusion"}


@dataclass(frozen=True)
class Claim:
    text: str
    method: str
    metrics: tuple[str, ...]
    best: bool  # True: the method is claimed best on every metric; False: worst


# The seed study's three claims (issue 22), on the axes they were made on.
CLAIMS = (
    Claim("DreamBooth is best on image similarity", "dreambooth", ("image_similarity_clip", "image_similarity_dino"),
          best=True),
    Claim("LoRA is best on prompt similarity", "lora", ("prompt_similarity_clip",), best=True),
    Claim("Textual Inversion is worst on both image and prompt similarity", "textual_inversion",
          ("image_similarity_clip", "image_similarity_dino", "prompt_similarity_clip"), best=False),
)


def oriented(comparisons: pd.DataFrame, metric: str, method: str) -> pd.DataFrame:
    """The pairs of `method` with every other method (not the base model) on `metric`, as `method` - other."""
    rows = comparisons[(comparisons["metric"] == metric) & (comparisons[["method_a", "method_b"]] == method).any(axis=1)
                       & ~(comparisons[["method_a", "method_b"]] == BASE_MODEL_METHOD).any(axis=1)]
    out = []
    for _, row in rows.iterrows():
        flip = row["method_b"] == method
        out.append({"other": row["method_a"] if flip else row["method_b"],
                    "difference": -row["mean_difference"] if flip else row["mean_difference"],
                    "ci_low": -row["ci_high"] if flip else row["ci_low"],
                    "ci_high": -row["ci_low"] if flip else row["ci_high"], "p_holm": row["p_holm"]})
    return pd.DataFrame(out, columns=["other", "difference", "ci_low", "ci_high", "p_holm"])


def verdict(comparisons: pd.DataFrame, metric: str, method: str, best: bool) -> tuple[str, pd.DataFrame]:
    """'supported', 'contradicted' or 'not resolved' for "`method` is best (or worst) on `metric`", and the pairs
    it rests on."""
    pairs = oriented(comparisons, metric, method)
    sign = 1 if best else -1
    significant = pairs["p_holm"] < ALPHA
    if pairs.empty or pairs["p_holm"].isna().any():
        return "not resolved", pairs  # too few concepts for a test
    if (significant & (sign * pairs["difference"] < 0)).any():
        return "contradicted", pairs
    if (significant & (sign * pairs["difference"] > 0)).all():
        return "supported", pairs
    return "not resolved", pairs


def overall(verdicts: list[str]) -> str:
    if "contradicted" in verdicts:
        return "contradicted"
    return "supported" if all(v == "supported" for v in verdicts) else "not resolved"


def claim_section(comparisons: pd.DataFrame, claim: Claim) -> str:
    verdicts, lines = [], []
    for metric in claim.metrics:
        result, pairs = verdict(comparisons, metric, claim.method, claim.best)
        verdicts.append(result)
        details = "; ".join(
            f"{NAMES.get(p.other, p.other)} {number(p.difference)} [{number(p.ci_low)}, {number(p.ci_high)}], "
            f"p_holm {number(p.p_holm)}" for p in pairs.itertuples())
        lines.append(f"  - `{metric}`: **{result}**. {NAMES[claim.method]} minus each other method: {details}.")
    return f"- **{claim.text}: {overall(verdicts)}.**\n" + "\n".join(lines) + "\n"


# The line every job's log ends with (conceptbench.jobs.start_job): the CPU time of the process that ran its script.
USED_CPU = re.compile(r"used ([0-9.]+) s of CPU")


def logged_cpu_seconds(text: str) -> list[float]:
    """The CPU seconds a job log's attempts say they used, in order (a retried job appends to its log)."""
    return [float(m) for m in USED_CPU.findall(text)]


def run_cost(run_dir: Path) -> str:
    """The run's wall time (its last Snakemake log) and the CPU time its jobs logged (conceptbench.jobs)."""
    logs = sorted((run_dir / ".snakemake" / "log").glob("*.snakemake.log"))
    text = logs[-1].read_text() if logs else ""
    elapsed = re.findall(r"Elapsed time: (\S+)", text)
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
    cpu = sum(sum(logged_cpu_seconds(log.read_text())) for log in (run_dir / "logs").rglob("*.log"))
    if not elapsed:
        return "The run's wall time is not in its Snakemake log (it did not finish in one go).\n"
    jobs = f"{steps[-1][1]} jobs" if steps else "its jobs"
    return (f"{jobs} in {elapsed[-1].split('.')[0]} (h:mm:ss) of wall time; the jobs logged {cpu / 60:.0f} CPU-minutes "
            f"(`{logs[-1].relative_to(run_dir)}`, `logs/`).\n")


KEPT_TABLES = ("metrics.csv", "summary.csv", "comparisons.csv", "metrics.md")
COST_FILE = "cost.txt"


def study_report(summary_dir: str | Path, cost: str, own_seeds: dict[str, int] | None = None) -> str:
    """The report from a run's summary tables (its results/summary/, or a folder they were kept in) and its cost."""
    summary_dir = Path(summary_dir)
    table = pd.read_csv(summary_dir / "metrics.csv")
    summary = pd.read_csv(summary_dir / "summary.csv", keep_default_na=False, na_values=[""])
    comparisons = pd.read_csv(summary_dir / "comparisons.csv", keep_default_na=False, na_values=[""])
    pooled = method_rows(table, own_seeds or {}, snapshots=True)
    final = pooled[[not is_snapshot(m) for m in pooled["method"]]]
    methods = [m for m in dict.fromkeys(final["method"]) if m not in (BASE_MODEL_METHOD, REFERENCE_METHOD)]
    concepts = final["concept"].nunique()
    seeds = int(final[final["method"].isin(methods)]["seeds"].max())
    summary = summary[summary["metric"].isin(STUDY_METRICS)]
    gains = comparisons[comparisons["metric"].isin(STUDY_METRICS) & (comparisons["method_b"] == BASE_MODEL_METHOD)]
    between = comparisons[comparisons["metric"].isin(TRADE_OFF_METRICS)
                          & ~(comparisons[["method_a", "method_b"]] == BASE_MODEL_METHOD).any(axis=1)]
    provenance = (summary_dir / "metrics.md").read_text().strip().splitlines()[-1].lstrip("> ")
    flagged = novelty_table(table)
    not_new = flagged.count("| no |")
    return "\n".join([
        "# The world study",
        "",
        f"Which method puts a new individual into `builtin:world` best? {concepts} generated individuals, "
        f"{len(methods)} methods ({', '.join(NAMES.get(m, m) for m in methods)}), {seeds} training seeds each; "
        "the unit of every interval and test is the concept (a concept's value: the mean over its seeds, each seed's "
        "the mean over its images). Printed by `python -m conceptbench.report.study docs/world_study` from the tables "
        "kept from the run (`snakemake --cores all --configfile config/world_study.yaml`; then "
        "`python -m conceptbench.report.study RUN_DIR --keep docs/world_study`); re-run both to re-measure.",
        "",
        f"{provenance}",
        "",
        "## Cost",
        "",
        cost,
        "## Per method, over concepts",
        "",
        "Mean over concepts [95% t interval over concepts]; `base_model` is the untrained model on the same prompts "
        "with the class noun, `reference` the photos against themselves (image axis) and the base model against "
        "itself (prompt axis).",
        "",
        summary_table(summary, list(STUDY_METRICS)),
        "## Each method's gain over the untrained base model",
        "",
        "Paired by concept: mean difference [95% t interval], paired t test over concepts, p adjusted over each "
        "metric's pairs (Holm).",
        "",
        comparisons_markdown(gains),
        "## Between methods",
        "",
        comparisons_markdown(between),
        "## Over training: a snapshot against the final weights",
        "",
        "Mean over concepts [95% t interval over concepts]; `<method>@step<N>`: the snapshot at step N.",
        "",
        trade_off_table(method_summary(pooled[pooled["metric"].isin(TRADE_OFF_METRICS)]), TRADE_OFF_METRICS),
        "## The seed study's three claims",
        "",
        f"Verdicts at Holm-adjusted p < {ALPHA} (conceptbench/report/study.py says how they are read).",
        "",
        "\n".join(claim_section(comparisons, claim) for claim in CLAIMS if claim.method in methods),
        "## Are the individuals new to the base model?",
        "",
        f"{not_new} of {2 * concepts} concept x extractor rows show the base model within reach of the photos' own "
        "level (\"no\" below); the rest are new to it.",
        "",
        flagged,
    ])


def report_of(folder: str | Path, keep: str | Path | None = None) -> str:
    """The report of a run folder (RUN_DIR/results/summary/ and its logs), or of a folder its tables were kept in;
    with `keep`, the tables and the cost are copied there first."""
    folder = Path(folder)
    if (folder / COST_FILE).is_file():
        summary_dir, cost = folder, (folder / COST_FILE).read_text()
    else:
        summary_dir, cost = folder / "results" / "summary", run_cost(folder)
        if not (summary_dir / "metrics.csv").is_file():
            raise FileNotFoundError(f"{folder}: neither a finished run (no results/summary/metrics.csv) nor a folder "
                                    f"of kept tables (no {COST_FILE})")
    if keep is not None:
        keep = Path(keep)
        keep.mkdir(parents=True, exist_ok=True)
        for name in KEPT_TABLES:
            shutil.copyfile(summary_dir / name, keep / name)
        (keep / COST_FILE).write_text(cost)
        summary_dir = keep
    return study_report(summary_dir, cost)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    keep = None
    if len(args) == 3 and args[1] == "--keep":
        keep = args[2]
    elif len(args) != 1:
        print("usage: python -m conceptbench.report.study RUN_DIR [--keep DIR] | KEPT_DIR", file=sys.stderr)
        return 2
    print(report_of(args[0], keep), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
