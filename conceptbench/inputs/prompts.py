"""Prompts: templates with `{c}` for the concept phrase, their ids, and the baseline rewriting."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from conceptbench.inputs.concepts import KINDS

PLAIN_ID = "plain"
# The caption every method trains on: with the concept phrase for the concept's photos, with the class noun for the
# class images of prior preservation (which the class_images rule makes from the same caption).
TRAINING_PROMPT = "a photo of {c}"


def images_per_prompt(num_images: int | Mapping[str, int], prompt_id: str) -> int:
    """How many images `generation.num_images` asks of a prompt: one count for every prompt, or
    {plain: N, context: M} (the plain prompt's images carry the set metrics, and may want more)."""
    if isinstance(num_images, Mapping):
        return num_images["plain" if prompt_id == PLAIN_ID else "context"]
    return num_images


def is_snapshot_key(key: str) -> bool:
    """Whether an image set's key is a snapshot's ("step50/<id>")."""
    parts = key.split("/")
    return len(parts) > 1 and re.fullmatch(r"step\d+", parts[0]) is not None


def images_in_set(set_sizes: int | Mapping, key: str) -> int:
    """How many images the set with this key holds. `set_sizes` is one generation.num_images form for every set,
    or {"final": ..., "snapshots": ...}: the final images' counts and the snapshots' (generation.snapshot_images)."""
    if isinstance(set_sizes, Mapping) and "final" in set_sizes:
        set_sizes = set_sizes["snapshots" if is_snapshot_key(key) else "final"]
    return images_per_prompt(set_sizes, set_prompt_id(key))


def set_prompt_id(key: str) -> str:
    """The prompt id of an image set's key: "plain", "<id>", "step50/<id>" (a snapshot's), "<id>/a" (a baseline half)."""
    parts = key.split("/")
    return parts[1] if is_snapshot_key(key) else parts[0]


def training_prompt(phrase: str) -> str:
    """TRAINING_PROMPT for a concept phrase ("sks dog") or a class noun ("dog")."""
    return TRAINING_PROMPT.replace("{c}", phrase)


def prompt_id(template: str) -> str:
    """A short, stable, file-name-safe id for a prompt template ("a photo of {c} in a forest" -> "a_photo_of_c_in_a_forest")."""
    slug = re.sub(r"[^a-z0-9]+", "_", template.replace("{c}", "c").lower()).strip("_")
    return slug[:60] or "prompt"


def prompt_ids(image_prompt: str, context_prompts: list[str]) -> dict[str, str]:
    """Id -> template for the plain prompt (id `plain`) and every context prompt.

    Different prompts whose ids would coincide ("A photo of {c}!" and "a photo of {c}", or long prompts alike in
    their first 60 characters) keep apart: the later one's id gets a short hash of its text. The first keeps its
    plain id, so adding a prompt never renames an existing prompt's images.
    """
    ids = {PLAIN_ID: image_prompt}
    for template in context_prompts:
        if template in ids.values():
            raise ValueError(f"prompts.context: {template!r} is listed twice (or is also prompts.image); "
                             "remove the repeated one")
        pid = prompt_id(template)
        if pid in ids:
            pid = f"{pid}_{hashlib.sha256(template.encode()).hexdigest()[:8]}"
        ids[pid] = template
    return ids


def context_by_kind(context: list[str] | Mapping[str, list[str]]) -> dict[str, list[str]]:
    """prompts.context as {kind: templates}. A list serves every kind; a mapping (DreamBench's protocol: one list
    for objects, one for live subjects) gives each kind its own."""
    if isinstance(context, Mapping):
        return {kind: list(context[kind]) for kind in KINDS if kind in context}
    return {kind: list(context) for kind in KINDS}


def context_templates(context: list[str] | Mapping[str, list[str]]) -> list[str]:
    """Every context template once, in order of first appearance (a prompt both kinds share is one prompt).

    A template repeated within one kind's list is refused, as in prompt_ids."""
    templates: list[str] = []
    for kind, listed in context_by_kind(context).items():
        repeated = sorted({t for t in listed if listed.count(t) > 1})
        if repeated:
            where = f"prompts.context.{kind}" if isinstance(context, Mapping) else "prompts.context"
            raise ValueError(f"{where}: {repeated[0]!r} is listed twice; remove the repeated one")
        templates += [t for t in listed if t not in templates]
    return templates


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
