"""A CLIP tokenizer the project writes itself, so that tiny and world models need no download."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def char_level_vocab(merges: Sequence[tuple[str, str]] = ()) -> dict[str, int]:
    """A CLIP BPE vocabulary: the 256 byte symbols, their end-of-word forms, the tokens `merges` make, BOS/EOS.

    With no merges the CLIP tokenizer splits every word into characters, which is all a tiny random model needs
    and lets the project ship its own tokenizer instead of downloading one. The world model passes merges that
    make each of its words one token (conceptbench.world.tokenizer).
    """
    symbols = sorted(_byte_symbols())
    tokens = symbols + [s + "</w>" for s in symbols] + [a + b for a, b in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins that byte-level BPE (GPT-2, CLIP) uses for the 256 byte values.

    Printable Latin-1 bytes stand for themselves; the others are shifted past 255 so none is whitespace or control.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(shifted))]


def write_tiny_tokenizer(folder: Path, merges: Sequence[tuple[str, str]] = ()) -> None:
    """Write a CLIP tokenizer (vocab.json, merges.txt, tokenizer_config.json) that CLIPTokenizer.from_pretrained reads."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(char_level_vocab(merges), ensure_ascii=False, sort_keys=True))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    config = {"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
              "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
