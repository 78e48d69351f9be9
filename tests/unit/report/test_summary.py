"""The aggregate rule's tables and page (conceptbench.report.summary): all rows in one table, the summary and
comparisons over final artifacts with the training seeds pooled, and the Markdown page of both."""

import numpy as np
import pandas as pd

from conceptbench.report.summary import read_tables, summarise, summary_markdown, write_summary
from conceptbench.runs import method_rows, pool_seeds
from conceptbench.scoring.uncertainty import method_summary, paired_comparisons

OWN_SEEDS = {"lora": 0, "ti": 0}


def _tables():
    rng = np.random.default_rng(1)
    rows, scores = [], []
    for concept in ("dog1", "cat1", "dog2"):
        for method in ("lora", "lora@seed1", "ti", "lora@step50", "reference"):
            for metric in ("image_similarity_clip", "image_kid_inception"):
                value = float(rng.normal(0.5, 0.1))
                rows.append({"concept": concept, "method": method, "metric": metric, "value": value, "n": 5,
                             "ci_low": value - 0.05, "ci_high": value + 0.05})
            if method in ("lora", "lora@seed1", "ti"):
                scores += [{"concept": concept, "method": method, "metric": "image_similarity_clip",
                            "prompt": "plain", "image": i, "value": float(rng.normal(0.5, 0.1))} for i in range(5)]
    return pd.DataFrame(rows).sample(frac=1, random_state=0), pd.DataFrame(scores)


def test_the_summary_and_comparisons_pool_seeds_over_final_artifacts():
    tables, scores = _tables()
    result = summarise(tables, scores, own_seeds=OWN_SEEDS, base_model="builtin:world", samples=200,
                       provenance=None)
    # Every row, sorted, with where it comes from.
    assert len(result.table) == len(tables) and set(result.table["base_model"]) == {"builtin:world"}
    ordered = result.table[["concept", "method", "metric"]].apply(tuple, axis=1).tolist()
    assert ordered == sorted(ordered)
    # The summary: methods, not runs; snapshots left to the trade-off plots; the same as computing it directly.
    assert set(result.summary["method"]) == {"lora", "ti", "reference"}
    direct = method_summary(method_rows(result.table, OWN_SEEDS), samples=200)
    pd.testing.assert_frame_equal(result.summary, direct)
    final = result.table[~result.table["method"].str.contains("@step")]
    expected = paired_comparisons(pool_seeds(scores, OWN_SEEDS), pool_seeds(final, OWN_SEEDS), samples=200)
    pd.testing.assert_frame_equal(result.comparisons, expected)
    assert set(zip(result.comparisons["method_a"], result.comparisons["method_b"])) == {("lora", "ti")}


def test_the_page_says_what_it_averages_and_where_the_numbers_come_from():
    tables, scores = _tables()
    provenance = {"label": "world", "text": "the conceptbench world"}
    result = summarise(tables, scores, own_seeds=OWN_SEEDS, base_model="builtin:world", samples=200,
                       provenance=provenance)
    page = result.markdown
    assert page.startswith("Mean over 3 concepts and training seeds [95% bootstrap interval: concepts resampled, "
                           "each with its 2 training seeds' spread; 200 samples].")
    assert "## Paired comparisons" in page and page.endswith("> Numbers from the conceptbench world.\n")
    one_seed = summary_markdown(method_rows(tables[tables["method"] != "lora@seed1"], OWN_SEEDS), result.summary,
                                result.comparisons.iloc[0:0], 200, None)
    assert "its generated images resampled" in one_seed and "Paired comparisons" not in one_seed


def test_written_tables_read_back(tmp_path):
    tables, scores = _tables()
    tables.to_csv(tmp_path / "a.csv", index=False)
    assert len(read_tables([tmp_path / "a.csv", tmp_path / "a.csv"])) == 2 * len(tables)
    result = summarise(tables, scores, own_seeds=OWN_SEEDS, base_model="m", samples=100, provenance=None)
    paths = {name: tmp_path / f"{name}.out" for name in ("table", "summary", "comparisons", "markdown")}
    write_summary(result, **paths)
    assert pd.read_csv(paths["summary"]).shape == result.summary.shape
    assert paths["markdown"].read_text() == result.markdown
