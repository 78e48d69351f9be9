"""Prompts: templates with `{c}` for the concept phrase, their ids, and the baseline rewriting."""

from __future__ import annotations

import re

PLAIN_ID = "plain"


def prompt_id(template: str) -> str:
    """A short, stable, file-name-safe id for a prompt template ("a photo of {c} in a forest" -> "a_photo_of_c_in_a_forest")."""
    slug = re.sub(r"[^a-z0-9]+", "_", template.replace("{c}", "c").lower()).strip("_")
    return slug[:60] or "prompt"


def prompt_ids(image_prompt: str, context_prompts: list[str]) -> dict[str, str]:
    """Id -> template for the plain prompt (id `plain`) and every context prompt; ids must be unique."""
    ids = {PLAIN_ID: image_prompt}
    for template in context_prompts:
        pid = prompt_id(template)
        if pid in ids:
            raise ValueError(f"prompts.context: {template!r} and {ids[pid]!r} give the same id {pid!r}; "
                             "make the prompts differ in their words")
        ids[pid] = template
    return ids


def fill(template: str, phrase: str) -> str:
    """Put a phrase where `{c}` stands; an empty phrase leaves no double spaces behind."""
    return re.sub(r"\s+", " ", template.replace("{c}", phrase)).strip()


def baseline_prompt(template: str, class_noun: str, mode: str = "class") -> str:
    """The prompt the base model gets for the same context without the concept.

    mode "class": the concept phrase becomes the class noun ("a photo of dog in a forest");
    mode "empty": it is dropped, as in the Textual Inversion study ("a photo of in a forest").
    """
    if mode == "class":
        return fill(template, class_noun)
    if mode == "empty":
        return fill(template, "")
    raise ValueError(f"generation.baseline_phrase must be 'class' or 'empty', not {mode!r}")
