import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conceptbench.report.figures import comparable_reference, similarity_scatter, tradeoff_plot
from conceptbench.report.grid import grid_size, image_grid
from conceptbench.report.tables import metrics_markdown
from conceptbench.scoring.registry import metric_axes

METHODS = ["textual_inversion", "dreambooth", "lora"]
CONCEPTS = ["dog", "backpack"]


@pytest.fixture
def tidy():
    rng = np.random.default_rng(0)
    rows = []
    for concept in CONCEPTS:
        for i, method in enumerate(METHODS + ["reference"]):
            ref = method == "reference"
            values = {
                "image_similarity_clip": 0.9 if ref else 0.6 + 0.08 * i + rng.normal(0, 0.02),
                "prompt_similarity_clip": 0.85 if ref else 0.75 - 0.06 * i + rng.normal(0, 0.02),
                "image_fid_inception": 120.0 if ref else 250 - 30 * i + rng.normal(0, 10),
                "prompt_fid_inception": 140.0 if ref else 180 + 25 * i + rng.normal(0, 10),
                "image_kid_inception": 0.01 if ref else 0.2 - 0.03 * i + rng.normal(0, 0.01),
                "prompt_kid_inception": 0.02 if ref else 0.05 + 0.02 * i + rng.normal(0, 0.01),
            }
            for metric, value in values.items():
                rows.append({"concept": concept, "method": method, "metric": metric, "value": value, "n": 10})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("family", ["clip", "fid", "kid"])
def test_similarity_scatter_writes_png_and_svg(tidy, tmp_path, family):
    x, y = metric_axes()[family]
    paths = [tmp_path / "out" / f"{family}.png", tmp_path / "out" / f"{family}.svg"]
    similarity_scatter(tidy, x, y, paths, title=f"{family} fidelity")
    for p in paths:
        assert p.stat().st_size > 1000
    with Image.open(paths[0]) as im:
        assert im.format == "PNG"
    svg = paths[1].read_text()
    assert "<svg" in svg


def test_fid_reference_is_drawn_only_at_the_methods_n(tidy):
    """The targets-vs-targets FID compares two halves of the photos, a smaller n than the methods' FID: not a floor
    for them. KID and the similarities do not depend on n in expectation, so their reference always counts."""
    assert comparable_reference(tidy, "image_fid_inception")
    halves = tidy.copy()
    halves.loc[halves["method"] == "reference", "n"] = 5
    assert not comparable_reference(halves, "image_fid_inception")
    assert comparable_reference(halves, "image_kid_inception")
    assert comparable_reference(halves, "image_similarity_clip")


def test_similarity_scatter_missing_metric(tidy, tmp_path):
    with pytest.raises(ValueError, match="prompt_similarity_dino"):
        similarity_scatter(tidy, "image_similarity_clip", "prompt_similarity_dino", [tmp_path / "a.png"], "t")


def _write_image(path, size, colour):
    Image.new("RGB", size, colour).save(path)
    return path


def test_image_grid_size(tmp_path):
    a = _write_image(tmp_path / "a.png", (64, 64), "red")
    b = _write_image(tmp_path / "b.jpg", (80, 40), "blue")  # not square: fitted inside the cell
    titles = [
        "a photo of sks dog",
        "a sks dog swimming in a pool next to a very long description of the scenery around it",
        "supercalifragilisticexpialidocious_prompt_identifier",
    ]
    rows = [("dreambooth", [a, b, None]), ("a_rather_long_method_name_with_words", [None, a, b])]
    out = tmp_path / "grids" / "grid.png"
    image_grid(rows, titles, out, thumb=72)
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == grid_size(2, 3, thumb=72)
        assert im.size[0] > 3 * 72 and im.size[1] > 2 * 72


def test_image_grid_rejects_ragged_rows(tmp_path):
    with pytest.raises(ValueError, match="column titles"):
        image_grid([("m", [None])], ["t1", "t2"], tmp_path / "g.png")


def test_metrics_markdown(tidy):
    md = metrics_markdown(tidy)
    lines = md.strip().splitlines()
    assert lines[0].startswith("| method |")
    assert lines[1].startswith("|---|")
    body = lines[2:]
    assert [line.split("|")[1].strip() for line in body] == METHODS + ["reference"]
    assert all("±" in line for line in body)
    n_cols = lines[0].count("|")
    assert all(line.count("|") == n_cols for line in lines)
    # Reference values are constant over concepts: std 0, 3 significant digits.
    assert "| 0.900 ± 0.000 |" in lines[-1]
    assert "120 ± 0 |" in lines[-1]


def test_metrics_markdown_with_intervals(tidy):
    from conceptbench.scoring.uncertainty import method_summary, t_interval

    with_ci = tidy.assign(ci_low=tidy["value"] - 0.01, ci_high=tidy["value"] + 0.01)
    lines = metrics_markdown(with_ci, method_summary(with_ci)).strip().splitlines()
    body = lines[2:]
    assert [line.split("|")[1].strip() for line in body] == METHODS + ["reference"]
    # Two concepts: too few for an interval, so each cell is the mean alone.
    assert lines[-1].split("|")[2].strip() == "0.900"
    # A third concept: the t interval over the three concepts' values.
    third = with_ci[with_ci["concept"] == with_ci["concept"].iloc[0]].assign(concept="c_third")
    third.loc[third["method"] == "reference", "value"] = 0.96
    three = pd.concat([with_ci, third])
    cell = metrics_markdown(three, method_summary(three)).strip().splitlines()[-1].split("|")[2].strip()
    mean, low, high = (float(x) for x in cell.replace("[", "").replace("]", "").replace(",", "").split())
    expected = t_interval([0.9, 0.9, 0.96])
    assert mean == 0.92 and (low, high) == pytest.approx(expected, abs=0.0051)


def test_tradeoff_plot_draws_each_methods_path_in_step_order(tidy, tmp_path):
    # Snapshots of lora at steps 10 and 20 (its final artifact at 30): image similarity up, prompt similarity down.
    snapshots = []
    for step, shift in ((10, -0.2), (20, -0.1)):
        rows = tidy[tidy["method"] == "lora"].copy()
        rows["method"] = f"lora@step{step}"
        rows.loc[rows["metric"] == "image_similarity_clip", "value"] += shift
        rows.loc[rows["metric"] == "prompt_similarity_clip", "value"] -= shift
        snapshots.append(rows)
    table = pd.concat([tidy, *snapshots], ignore_index=True)
    paths = [tmp_path / "tradeoff.png", tmp_path / "tradeoff.svg"]
    drawn = tradeoff_plot(table, "image_similarity_clip", "prompt_similarity_clip",
                          {"lora": {30: "lora", 10: "lora@step10", 20: "lora@step20"}}, paths, "t")
    assert [step for step, _, _ in drawn["lora"]] == [10, 20, 30]
    final = tidy[(tidy["method"] == "lora")].groupby("metric")["value"].mean()
    x, y = np.array([p[1] for p in drawn["lora"]]), np.array([p[2] for p in drawn["lora"]])
    np.testing.assert_allclose(x, final["image_similarity_clip"] + np.array([-0.2, -0.1, 0.0]))
    np.testing.assert_allclose(y, final["prompt_similarity_clip"] - np.array([-0.2, -0.1, 0.0]))
    assert all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError, match="evaluated steps"):
        tradeoff_plot(table, "image_kid_inception", "prompt_similarity_dino", {"lora": {30: "lora"}}, paths, "t")
