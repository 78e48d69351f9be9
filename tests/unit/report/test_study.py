"""The world study's report (conceptbench/report/study.py): the verdicts on the seed study's claims follow the
paired comparisons as the module says, and the report of a run prints its tables and verdicts from its files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conceptbench.report.study import main, oriented, report_of, verdict
from conceptbench.report.summary import summarise, write_summary
from conceptbench.runs import BASE_MODEL_METHOD, REFERENCE_METHOD

METRICS = ("image_similarity_clip", "image_similarity_dino", "prompt_similarity_clip")


def comparison(metric, a, b, difference, p_holm):
    return {"metric": metric, "method_a": a, "method_b": b, "mean_difference": difference,
            "ci_low": difference - 0.1, "ci_high": difference + 0.1, "p_holm": p_holm}


def test_pairs_are_read_as_the_claimed_method_minus_the_other():
    table = pd.DataFrame([comparison("m", "a", "dreambooth", 0.3, 0.01), comparison("m", "dreambooth", "b", 0.2, 0.5),
                          comparison("m", "dreambooth", BASE_MODEL_METHOD, 0.9, 0.001)])
    pairs = oriented(table, "m", "dreambooth").set_index("other")
    assert list(pairs.index) == ["a", "b"]  # never the base model
    assert pairs.loc["a", "difference"] == pytest.approx(-0.3)
    assert (pairs.loc["a", "ci_low"], pairs.loc["a", "ci_high"]) == pytest.approx((-0.4, -0.2))


@pytest.mark.parametrize(("rows", "best", "expected"), [
    ([("dreambooth", "a", 0.2, 0.01), ("dreambooth", "b", 0.1, 0.04)], True, "supported"),
    ([("dreambooth", "a", 0.2, 0.01), ("dreambooth", "b", 0.1, 0.2)], True, "not resolved"),
    ([("dreambooth", "a", 0.2, 0.01), ("b", "dreambooth", 0.1, 0.03)], True, "contradicted"),
    ([("dreambooth", "a", -0.2, 0.01), ("dreambooth", "b", -0.1, 0.001)], False, "supported"),
    ([("dreambooth", "a", -0.2, 0.01), ("dreambooth", "b", 0.1, 0.001)], False, "contradicted"),
    ([("dreambooth", "a", 0.2, float("nan"))], True, "not resolved"),  # too few concepts for a test
])
def test_verdicts(rows, best, expected):
    table = pd.DataFrame([comparison("m", a, b, d, p) for a, b, d, p in rows])
    assert verdict(table, "m", "dreambooth", best)[0] == expected


def synthetic_run(tmp_path, concepts=8):
    """A finished run's summary folder from known per-concept values: DreamBooth far ahead on image similarity,
    Textual Inversion far ahead on prompt similarity, LoRA in between on both."""
    rng = np.random.default_rng(0)
    level = {"dreambooth": (0.8, 0.3), "lora": (0.6, 0.5), "textual_inversion": (0.4, 0.7),
             BASE_MODEL_METHOD: (0.1, 0.9), REFERENCE_METHOD: (0.9, 0.9)}
    rows = []
    for c in range(concepts):
        for method, (image, prompt) in level.items():
            for metric in METRICS:
                value = (prompt if metric.startswith("prompt") else image) + rng.normal(0, 0.02)
                for name in ([method] if method in (BASE_MODEL_METHOD, REFERENCE_METHOD)
                             else [method, f"{method}@seed1", f"{method}@step10"]):
                    rows.append({"concept": f"c{c}", "method": name, "metric": metric, "value": value, "n": 10,
                                 "ci_low": value - 0.05, "ci_high": value + 0.05})
    summary = tmp_path / "results" / "summary"
    summary.mkdir(parents=True)
    result = summarise(pd.DataFrame(rows), own_seeds={}, base_model="builtin:world",
                       provenance={"text": "a synthetic run"})
    write_summary(result, table=summary / "metrics.csv", summary=summary / "summary.csv",
                  comparisons=summary / "comparisons.csv", markdown=summary / "metrics.md")
    return tmp_path


def test_the_report_of_a_run_prints_its_numbers_and_verdicts(tmp_path, capsys):
    run = synthetic_run(tmp_path / "run")
    report = report_of(run)
    assert "8 generated individuals, 3 methods" in report and "2 training seeds each" in report
    assert "- **DreamBooth is best on image similarity: supported.**" in report
    assert "- **LoRA is best on prompt similarity: contradicted.**" in report  # Textual Inversion is ahead of it
    assert "- **Textual Inversion is worst on both image and prompt similarity: contradicted.**" in report
    assert "Numbers from a synthetic run." in report
    assert "| lora@step10 | 0.5" in report and "| lora | 0.5" in report
    assert "did not finish in one go" in report  # no Snakemake log in this folder: no wall time claimed
    # Kept, the tables print the same report without the run; a folder that is neither is refused.
    assert main([str(run), "--keep", str(tmp_path / "kept")]) == 0 and capsys.readouterr().out == report
    assert report_of(tmp_path / "kept") == report
    with pytest.raises(FileNotFoundError, match="neither a finished run"):
        report_of(tmp_path)



def test_the_committed_report_is_what_its_kept_tables_print():
    """docs/world_study.md is the report of the tables kept from its run (docs/world_study/): regenerated, not
    edited by hand, and re-measured with them."""
    docs = Path(__file__).resolve().parents[3] / "docs"
    assert (docs / "world_study.md").read_text() == report_of(docs / "world_study")
