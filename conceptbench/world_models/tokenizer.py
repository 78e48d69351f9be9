"""The world's tokenizer: CLIP's byte-level BPE with merges that make every world word a single token.

Words outside the world (`sks`, a concept's name) still fall apart into characters, as rare words do in CLIP's own
vocabulary. The merges are learnt here by plain BPE over the world's words, so applying them in rank order (as
CLIPTokenizer does) rebuilds each word exactly.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conceptbench.diffusion.tokenizers import write_tiny_tokenizer
from conceptbench.world.vocabulary import words


def learn_merges(vocabulary: list[str]) -> list[tuple[str, str]]:
    """BPE merges until each word of `vocabulary` is one symbol; ties go to the alphabetically first pair."""
    segmented = {word: tuple(word[:-1]) + (word[-1] + "</w>",) for word in vocabulary}
    merges = []
    while True:
        pairs = Counter(pair for symbols in segmented.values() for pair in zip(symbols, symbols[1:]))
        if not pairs:
            return merges
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        segmented = {word: _merge(symbols, best) for word, symbols in segmented.items()}


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def write_world_tokenizer(folder: Path) -> Path:
    write_tiny_tokenizer(Path(folder), learn_merges(words()))
    return Path(folder)
