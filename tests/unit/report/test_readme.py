"""The README's tables (conceptbench.report.readme) from a results/summary/ folder written by the aggregate rule."""

import numpy as np
import pandas as pd

from conceptbench.report.readme import main, readme_tables
from conceptbench.report.summary import summarise, write_summary


def _summary_folder(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"concept": c, "method": m, "metric": metric, "value": v, "n": 5, "ci_low": v - 0.1, "ci_high": v + 0.1}
            for c, base in (("new_dog", 0.1), ("old_toy", 0.7), ("cat", 0.2))
            for metric in ("image_similarity_clip", "image_similarity_dino", "image_kid_inception")
            for m, v in (("lora", float(rng.uniform(0.3, 0.6))), ("lora@step10", 0.25), ("base_model", base),
                         ("reference", 0.75))]
    result = summarise(pd.DataFrame(rows), own_seeds={"lora": 0}, base_model="builtin:world", provenance=None)
    write_summary(result, **{name: tmp_path / f"{name}.csv" for name in ("table", "summary", "comparisons")},
                  markdown=tmp_path / "metrics.md")
    (tmp_path / "table.csv").rename(tmp_path / "metrics.csv")
    return tmp_path


def test_the_readme_tables_come_from_the_summary_files(tmp_path, capsys):
    folder = _summary_folder(tmp_path)
    text = readme_tables(folder)
    assert text.startswith("| method | image_similarity_clip | image_similarity_dino | image_kid_inception |")
    assert "| lora | 0." in text and "| base_model |" in text and "| reference |" in text
    assert "| image_similarity_dino | lora | base_model | 3 |" in text  # the gain over the base model, by concept
    # The photos' own level is 0.75: the base model reaches it within its interval for old_toy only.
    assert "| old_toy | image_similarity_clip | 0.700 [0.600, 0.800] | 0.750 | no |" in text
    assert "| new_dog | image_similarity_clip | 0.100 [0.000, 0.200] | 0.750 | yes |" in text
    # Over training: the snapshot's row before the final one's, each the mean over the 3 concepts.
    lora = np.mean([r for r in [float(x) for x in pd.read_csv(folder / "metrics.csv").query(
        "method == 'lora' and metric == 'image_similarity_clip'")["value"]]])
    assert "| lora@step10 | 0.250 [0.250, 0.250] | 0.250 [0.250, 0.250] |" in text.split("Over training")[1]
    assert f"| lora | {lora:.3f}" in text.split("Over training")[1].split("lora@step10")[1]
    assert main([str(folder)]) == 0 and capsys.readouterr().out == text
