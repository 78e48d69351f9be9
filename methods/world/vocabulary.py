"""The words of the conceptbench world: its classes, contexts, renderings and colours, and its caption grammar.

Captions use the prompts' own wording, with the concept phrase where the prompt templates put `{c}`:

    a photo of dog                     (plain backdrop)
    a photo of brown dog in a forest   (the colour is named in about half of the captions)
    an oil painting of cat             ("a painting" and "an oil painting" are the same rendering)
    Elmo holding toy robot             (a red puppet holds the object on a plain backdrop)

`parse_prompt` reads a prompt template back into the attributes it asks for, which is how the world oracle knows
what a generated image should show.
"""

from __future__ import annotations

import re

CLASSES = ("dog", "cat", "bird", "toy robot", "car", "teapot", "chair", "boat")
LIVE_CLASSES = ("dog", "cat", "bird")
CONTEXTS = ("plain", "forest", "city", "desert", "field", "kitchen", "bedroom")
RENDERINGS = ("photo", "painting")
PAINTING_LEADS = ("a painting", "an oil painting")
LEADS = {"a photo": "photo", "a painting": "painting", "an oil painting": "painting"}
HOLDER = "Elmo"

COLOURS = {
    "red": (205, 40, 35), "orange": (238, 128, 28), "yellow": (242, 206, 40), "green": (58, 158, 62),
    "blue": (45, 90, 205), "purple": (128, 62, 172), "pink": (236, 128, 172), "brown": (128, 78, 42),
    "black": (38, 38, 42), "white": (242, 242, 238), "grey": (140, 140, 140),
}

# The attribute heads of the world oracle, in this order, each with its labels.
ATTRIBUTES = {
    "class": CLASSES,
    "context": CONTEXTS,
    "rendering": RENDERINGS,
    "holding": ("no", "yes"),
}


def noun_phrase(class_noun: str, colour: str | None) -> str:
    return f"{colour} {class_noun}" if colour else class_noun


def caption(class_noun: str, context: str, rendering: str, holding: bool, colour: str | None = None,
            lead: str | None = None) -> str:
    """The caption of a world image, in the wording of the default prompt list."""
    noun = noun_phrase(class_noun, colour)
    if holding:
        return f"{HOLDER} holding {noun}"
    lead = lead or ("a photo" if rendering == "photo" else "a painting")
    if LEADS.get(lead) != rendering:
        raise ValueError(f"lead {lead!r} does not describe rendering {rendering!r}")
    text = f"{lead} of {noun}"
    return text if context == "plain" else f"{text} in a {context}"


_CONTEXT_WORDS = "|".join(c for c in CONTEXTS if c != "plain")
_LEAD_WORDS = "|".join(LEADS)
_PROMPT_RE = re.compile(rf"^(?P<lead>{_LEAD_WORDS}) of \{{c\}}(?: in an? (?P<context>{_CONTEXT_WORDS}))?$")
_HOLDING_RE = re.compile(rf"^{HOLDER.lower()} holding \{{c\}}$")


def parse_prompt(template: str) -> dict[str, str] | None:
    """What a prompt template asks the image to show, as oracle labels; None if it is not in the world's grammar.

    >>> parse_prompt("a painting of {c} in a forest")
    {'context': 'forest', 'rendering': 'painting', 'holding': 'no'}
    """
    text = re.sub(r"\s+", " ", template.strip().lower())
    if _HOLDING_RE.match(text):
        return {"context": "plain", "rendering": "photo", "holding": "yes"}
    match = _PROMPT_RE.match(text)
    if not match:
        return None
    return {"context": match["context"] or "plain", "rendering": LEADS[match["lead"]], "holding": "no"}


def words() -> list[str]:
    """Every word a world caption can contain (lower case, as the CLIP tokenizer sees them)."""
    found = {"of", "in", "holding", HOLDER.lower()}
    for phrase in (*LEADS, *CLASSES, *COLOURS, *CONTEXTS):
        found.update(phrase.split())
    return sorted(found)
