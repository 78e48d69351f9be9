import pytest

from conceptbench.prompts import PLAIN_ID, baseline_prompt, fill, prompt_id, prompt_ids


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
    with pytest.raises(ValueError, match="same id"):
        prompt_ids("a photo of {c}", ["a photo of {c} in a forest", "A photo of {c} in a forest!"])
