import pytest

from conceptbench.inputs.prompts import PLAIN_ID, baseline_prompt, fill, prompt_id, prompt_ids


def test_fill_puts_the_phrase_where_c_stands():
    assert fill("a photo of {c} in a forest", "sks dog") == "a photo of sks dog in a forest"
    assert fill("Elmo holding {c}", "<blue_dog>") == "Elmo holding <blue_dog>"


def test_baseline_rewriting_class_and_empty():
    assert baseline_prompt("a photo of {c} in a forest", "stuffed animal") == "a photo of stuffed animal in a forest"
    assert baseline_prompt("a photo of {c} in a forest", "dog", "empty") == "a photo of in a forest"
    assert baseline_prompt("an oil painting of {c}", "dog", "empty") == "an oil painting of"
    with pytest.raises(ValueError, match="baseline_phrase"):
        baseline_prompt("a photo of {c}", "dog", "nothing")


def test_prompt_ids_are_file_safe_unique_and_plain_first():
    ids = prompt_ids("a photo of {c}", ["a photo of {c} in a forest", "Elmo holding {c}"])
    assert list(ids) == [PLAIN_ID, "a_photo_of_c_in_a_forest", "elmo_holding_c"]
    assert prompt_id("a photo of {c}, at night!") == "a_photo_of_c_at_night"


def test_different_prompts_with_the_same_slug_keep_apart_and_the_first_keeps_its_id():
    forest, shouted = "a photo of {c} in a forest", "A photo of {c} in a forest!"
    ids = prompt_ids("a photo of {c}", [forest, shouted])
    assert ids["a_photo_of_c_in_a_forest"] == forest
    (hashed,) = set(ids) - {PLAIN_ID, "a_photo_of_c_in_a_forest"}
    assert hashed.startswith("a_photo_of_c_in_a_forest_") and ids[hashed] == shouted
    assert prompt_ids("a photo of {c}", [forest]) == {PLAIN_ID: "a photo of {c}", "a_photo_of_c_in_a_forest": forest}
    # Long prompts alike in their first 60 characters.
    long = "a photo of {c} standing in a very long and detailed description of a forest"
    ids = prompt_ids("a photo of {c}", [long + " at dawn", long + " at dusk"])
    assert len(ids) == 3 and set(ids.values()) == {"a photo of {c}", long + " at dawn", long + " at dusk"}


def test_a_prompt_listed_twice_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        prompt_ids("a photo of {c}", ["a photo of {c} in a forest", "a photo of {c} in a forest"])


def test_images_per_prompt_reads_one_count_or_plain_and_context():
    from conceptbench.inputs.prompts import images_per_prompt, set_prompt_id

    assert images_per_prompt(5, "plain") == images_per_prompt(5, "a_photo_of_c_in_a_forest") == 5
    counts = {"plain": 25, "context": 5}
    assert images_per_prompt(counts, "plain") == 25 and images_per_prompt(counts, "an_oil_painting_of_c") == 5
    # Feature keys of final sets, snapshots and baseline halves all name their prompt.
    assert [set_prompt_id(k) for k in ("plain", "step25/plain", "plain/a", "a_photo_of_c/b", "step50/a_photo_of_c")] \
        == ["plain", "plain", "plain", "a_photo_of_c", "a_photo_of_c"]


def test_images_in_set_reads_the_final_or_the_snapshot_counts_by_the_sets_key():
    from conceptbench.inputs.prompts import images_in_set

    sizes = {"final": {"plain": 25, "context": 5}, "snapshots": {"plain": 10, "context": 1}}
    assert [images_in_set(sizes, k) for k in ("plain", "ctx", "plain/a", "ctx/b", "step75/plain", "step75/ctx")] \
        == [25, 5, 25, 5, 10, 1]
    assert images_in_set(3, "step75/plain") == images_in_set(3, "plain") == 3  # one form for every set
