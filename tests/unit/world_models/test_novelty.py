"""The novelty check: the base model's own images of a class are not novel; the demo concepts are."""

import shutil

from workflow_helpers import REPO

from conceptbench.world_models.novelty import base_model_images, novel_concepts, novel_individuals, novelty_table


def test_demo_concepts_are_novel_and_the_base_models_own_images_are_not(tmp_path):
    for name in ("blue_dog", "cyan_robot"):
        shutil.copytree(REPO / "data" / "demo" / name, tmp_path / name)
    # A concept whose "photos" are the untrained model's own dogs (other seeds than the check's): not novel.
    own = tmp_path / "base_dog"
    own.mkdir()
    images = base_model_images(["dog"], 30, log=None)["dog"][25:]
    for i, image in enumerate(images):
        image.save(own / f"{i:02d}.png")
    (own / "concept.yaml").write_text("class: dog\nkind: live\n")
    table = novelty_table(tmp_path, n_images=25, log=None)
    assert novel_concepts(table) == {"base_dog": False, "blue_dog": True, "cyan_robot": True}
    assert (table["ci_low"] <= table["base_model"]).all() and (table["base_model"] <= table["ci_high"]).all()


def test_novel_individuals_keep_the_first_novel_ones_of_each_class(tmp_path):
    kept, table = novel_individuals(8, tmp_path, seed=0, n_images=10, log=None)
    assert sorted(c.class_noun for c in kept) == sorted({c.class_noun for c in kept}) and len(kept) == 8
    novel = novel_concepts(table)
    assert all(novel[c.name] for c in kept)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(c.name for c in kept)
    assert set(table.loc[table["kept"], "concept"]) == {c.name for c in kept}
    assert (tmp_path / "novelty.csv").is_file()
