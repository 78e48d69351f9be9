"""The aggregate rule's tables and page (conceptbench.report.summary): all rows in one table, the summary and the
comparisons over concepts with the training seeds pooled, the concepts the base model already draws, the page."""

import numpy as np
import pandas as pd

from conceptbench.report.summary import not_novel, read_tables, summarise, summary_markdown, write_summary
from conceptbench.scoring.uncertainty import method_rows, method_summary, paired_comparisons

OWN_SEEDS = {"lora": 0, "ti": 0}
METRICS = ("image_similarity_clip", "image_kid_inception")


def _tables(concepts=("dog1", "cat1", "dog2")):
    rng = np.random.default_rng(1)
    rows = []
    for concept in concepts:
        for method in ("lora", "lora@seed1", "ti", "lora@step50", "base_model", "reference"):
            for metric in METRICS:
                value = float(rng.normal(0.5, 0.1))
                rows.append({"concept": concept, "method": method, "metric": metric, "value": value, "n": 5,
                             "ci_low": value - 0.05, "ci_high": value + 0.05})
    return pd.DataFrame(rows).sample(frac=1, random_state=0)


def test_the_summary_and_comparisons_pool_seeds_over_final_artifacts():
    tables = _tables()
    result = summarise(tables, own_seeds=OWN_SEEDS, base_model="builtin:world", provenance=None)
    # Every row, sorted, with where it comes from.
    assert len(result.table) == len(tables) and set(result.table["base_model"]) == {"builtin:world"}
    ordered = result.table[["concept", "method", "metric"]].apply(tuple, axis=1).tolist()
    assert ordered == sorted(ordered)
    # The summary: methods, not runs; snapshots left to the trade-off plots; the same as computing it directly.
    assert set(result.summary["method"]) == {"lora", "ti", "base_model", "reference"}
    pooled = method_rows(result.table, OWN_SEEDS)
    pd.testing.assert_frame_equal(result.summary, method_summary(pooled))
    pd.testing.assert_frame_equal(result.comparisons, paired_comparisons(pooled))
    pairs = set(zip(result.comparisons["method_a"], result.comparisons["method_b"]))
    assert pairs == {("lora", "ti"), ("lora", "base_model"), ("ti", "base_model")}  # each method's gain too


def test_the_page_says_what_it_averages_and_where_the_numbers_come_from():
    provenance = {"label": "world", "text": "the conceptbench world"}
    result = summarise(_tables(), own_seeds=OWN_SEEDS, base_model="builtin:world", provenance=provenance)
    page = result.markdown
    assert page.startswith("Mean over 3 concepts [95% t interval over concepts; a concept's value is the mean of "
                           "its 2 training seeds' runs].")
    assert "| base_model |" in page and page.index("| base_model |") < page.index("| reference |")
    assert "## Paired comparisons" in page and "(Holm)" in page
    assert page.endswith("> Numbers from the conceptbench world.\n")
    two = summarise(_tables(("dog1", "cat1")), own_seeds=OWN_SEEDS, base_model="m", provenance=None)
    assert two.markdown.startswith("Mean over 2 concepts [n = 2 concepts: no interval or test (at least 3 needed)]")
    assert "(no interval) | — | — |" in two.markdown


def test_a_concept_the_base_model_already_draws_is_flagged():
    rows = [{"concept": c, "method": m, "metric": "image_similarity_clip", "value": v, "n": 5, "ci_low": v - 0.1,
             "ci_high": v + 0.1, "seeds": 1}
            for c, base, reference in (("new_dog", 0.2, 0.8), ("old_dog", 0.75, 0.8))
            for m, v in (("base_model", base), ("reference", reference))]
    pooled = pd.DataFrame(rows)
    assert not_novel(pooled) == {"old_dog": ["image_similarity_clip"]}
    page = summary_markdown(pooled, method_summary(pooled), paired_comparisons(pooled), None)
    assert "## Not novel to the base model" in page and "- old_dog:" in page and "new_dog:" not in page


def test_written_tables_read_back(tmp_path):
    tables = _tables()
    tables.to_csv(tmp_path / "a.csv", index=False)
    assert len(read_tables([tmp_path / "a.csv", tmp_path / "a.csv"])) == 2 * len(tables)
    result = summarise(tables, own_seeds=OWN_SEEDS, base_model="m", provenance=None)
    paths = {name: tmp_path / f"{name}.out" for name in ("table", "summary", "comparisons", "markdown")}
    write_summary(result, **paths)
    assert pd.read_csv(paths["summary"]).shape == result.summary.shape
    assert paths["markdown"].read_text() == result.markdown
