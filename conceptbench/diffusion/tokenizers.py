"""A CLIP tokenizer the project writes itself, so that tiny and world models need no download; and a base model's
tokenizers read from local files alone, for the start-up check of prompt lengths."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from conceptbench.diffusion.sources import BUILT_BY_THE_WORKFLOW, BUILTIN_TINY_XL, pipeline_folder


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


def t5_character_vocab() -> list[tuple[str, float]]:
    """A T5 (SentencePiece Unigram) vocabulary of (piece, score): T5's special tokens in their fixed places, then the
    word-start marker and every printable ASCII character, alone and with the marker.

    T5's tokenizer is a SentencePiece model that cannot be downloaded here; transformers builds the same Unigram
    tokenizer from a piece list, so a tiny FLUX.1 gets a character-level T5 tokenizer like the tiny CLIP ones.
    """
    characters = [chr(code) for code in range(ord("!"), ord("~") + 1)]
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]  # T5's ids 0-2, then the marker
    pieces += [("\u2581" + c, -3.0) for c in characters] + [(c, -4.0) for c in characters]
    return pieces


def write_tiny_t5_tokenizer(folder: Path, model_max_length: int = 512) -> None:
    """Write a T5 tokenizer of t5_character_vocab (no sentinel tokens) that T5TokenizerFast.from_pretrained reads;
    512 is FLUX.1's T5 length (FluxPipeline pads prompts to max_sequence_length=512)."""
    from transformers import T5TokenizerFast

    tokenizer = T5TokenizerFast(vocab=t5_character_vocab(), extra_ids=0, model_max_length=model_max_length)
    tokenizer.save_pretrained(str(folder))


# Qwen's chat template, cut to what Flux2KleinPipeline.encode_prompt renders: one user turn, then the assistant's
# turn opened (its `enable_thinking` argument changes nothing without a thinking block).
QWEN_CHAT_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                      "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# Qwen2.5-VL's vision tokens: its model looks for them in every prompt's ids, so they must be ids of their own.
QWEN_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def write_tiny_qwen_tokenizer(folder: Path, model_max_length: int = 512, vision_tokens: bool = False) -> None:
    """Write a byte-level Qwen2 tokenizer (the 256 byte symbols, no merges, Qwen's chat tokens and template) that
    Qwen2TokenizerFast.from_pretrained reads: FLUX.2 [klein]'s Qwen3 text encoder in miniature, which pads prompts
    to 512 tokens (Flux2KleinPipeline's max_sequence_length); with `vision_tokens`, Qwen-Image's Qwen2.5-VL's."""
    from transformers import Qwen2Tokenizer

    vocab = {symbol: index for index, symbol in enumerate(sorted(_byte_symbols()))}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", model_max_length=model_max_length)
    specials = ["<|im_start|>", "<|im_end|>", *(QWEN_VISION_TOKENS if vision_tokens else ())]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    tokenizer.save_pretrained(str(folder))


# The components of a diffusers pipeline folder that hold its text encoders' tokenizers (SDXL has two).
TOKENIZER_COMPONENTS = ("tokenizer", "tokenizer_2")


class TokenizerUnavailable(LookupError):
    """A base model's tokenizers cannot be read from this machine's files (e.g. a hub model not downloaded yet)."""


def tiny_tokenizer():
    """The tokenizer of the tiny models' text encoders (write_tiny_tokenizer's), without building a model."""
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as folder:
        write_tiny_tokenizer(Path(folder))
        return CLIPTokenizer.from_pretrained(folder, local_files_only=True)


def base_model_tokenizers(source: str, base_dir: Path) -> dict:
    """Component name ("tokenizer", and "tokenizer_2" on SDXL) -> the tokenizer of that text encoder of a base model,
    read from local files only: a builtin's own, a local pipeline folder's, or a hub model's copy in the Hugging Face
    cache. Nothing is downloaded; TokenizerUnavailable says why they cannot be read."""
    if source in BUILT_BY_THE_WORKFLOW:  # not built yet at start-up, but their tokenizers are fixed
        return {name: tiny_tokenizer() for name in TOKENIZER_COMPONENTS[: 2 if source == BUILTIN_TINY_XL else 1]}
    folder = _pipeline_folder(source, base_dir)
    index_file = folder / "model_index.json"
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as exc:
        raise TokenizerUnavailable(f"cannot read {index_file} ({exc})") from None
    # An entry is [library, class], or [null, null] where the pipeline has no such component.
    names = [name for name in TOKENIZER_COMPONENTS if (index.get(name) or [None])[0]]
    if not names:
        raise TokenizerUnavailable(f"{index_file} names no tokenizer")
    from transformers import CLIPTokenizer

    tokenizers = {}
    for name in names:
        try:
            tokenizers[name] = CLIPTokenizer.from_pretrained(folder / name, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 (missing files, or whatever a broken file makes transformers raise)
            raise TokenizerUnavailable(f"cannot read the tokenizer in {folder / name} ({exc})") from None
    return tokenizers


def _pipeline_folder(source: str, base_dir: Path) -> Path:
    folder = pipeline_folder(source, base_dir)
    if folder is None:
        raise TokenizerUnavailable(f"{source} is neither a local folder nor in the Hugging Face cache yet (its first "
                                   "job downloads it)")
    return folder
