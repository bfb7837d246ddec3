"""Tiny, randomly initialised stand-ins for the real models, built offline.

The Hugging Face Hub is not reachable from tests and demos, so they use a tiny
BERT, ResNet and CLIP built from configs, with tokenizers whose vocabularies are
derived here from a small corpus. Each is saved with ``save_pretrained`` and
loaded back through the same ``from_pretrained`` paths as the real models.
Two builds are byte-identical (seeded weights; the vocabularies are built by
rule because the ``tokenizers`` trainers break ties in hash order, so two
trainings on the same corpus differ). A build takes well under a second.

Example::

    paths = build_tiny_models(Path("/tmp/tiny"))
    settings = Settings(text_encoder=str(paths["text"]), image_encoder=str(paths["image"]),
                        clip_model=str(paths["clip"]))

or from a shell: ``python -m moderation_lab.tiny_models /tmp/tiny``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from tokenizers.pre_tokenizers import ByteLevel

from worker.model.preprocess import IMAGENET_MEAN, IMAGENET_STD
from worker.model.untrained import UNTRAINED_MARKER

# Most constructors used here are not annotated in transformers; this builder uses
# the library through one untyped name instead of an ignore on every call.
_hf: Any = transformers

__all__ = ["build_tiny_models", "main"]

#: Bump when what is built changes, so stale folders are rebuilt.
_VERSION = "tiny-models/3"
_MARKER = "COMPLETE"
_SEED = 0

_CORPUS = (
    "the quick brown fox jumps over the lazy dog",
    "breaking news: the city council votes on the new budget today",
    "a photo of a cat sitting on a sunny window sill",
    "they always lie about everything, never trust those people",
    "scientists report the vaccine is safe and effective in a large trial",
    "this claim is false; the picture was taken years ago in another country",
    "violence or gore, weapons, a hateful symbol or meme, explicit content",
    "an ordinary everyday photo of friends having lunch in the park",
    "stock prices rose 3% after the earnings call on monday",
    "I've just watched the new episode and it was great!!! #tv",
    "Participants needed for an online survey about sleep and health",
    "0123456789 + - * / = ? ! . , ; : ' \" ( ) [ ] { } @ # $ % & _",
)


def build_tiny_models(dest: Path) -> dict[str, Path]:
    """Build (or reuse) the tiny models under ``dest``; returns their folders
    under the keys ``text``, ``image`` and ``clip``."""
    paths = {"text": dest / "text", "image": dest / "image", "clip": dest / "clip"}
    marker = dest / _MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == _VERSION:
        return paths
    marker.unlink(missing_ok=True)
    # Progress bars are off: importing worker.model (this package) turned them off.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        _build_text(paths["text"])
        _build_image(paths["image"])
        _build_clip(paths["clip"])
    for folder in paths.values():
        # The worker reads this: parts built on these weights never flag a post.
        (folder / UNTRAINED_MARKER).write_text("random weights, for tests and the demo\n", encoding="utf-8")
    # Written last: a folder without it is incomplete and is built again.
    marker.write_text(_VERSION, encoding="utf-8")
    return paths


def _wordpiece_vocab() -> dict[str, int]:
    """Specials, every corpus character (alone and as a ``##`` continuation), then
    the corpus words: any text tokenizes, unknown words fall back to characters."""
    words = sorted({w for line in _CORPUS for w in re.findall(r"\w+|[^\w\s]", line.lower())})
    chars = sorted({c for word in words for c in word})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    tokens += [word for word in words if word not in chars]
    return {token: i for i, token in enumerate(tokens)}


def _byte_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP-style byte-level BPE: all 256 byte symbols (plain and word-final), plus
    left-to-right merges that spell out each corpus word."""
    alphabet = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>", *alphabet, *(f"{c}</w>" for c in alphabet)]
    known = set(tokens)
    merges: list[tuple[str, str]] = []
    pieces = {w for line in _CORPUS for w in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", line.lower())}
    for word in sorted(pieces):
        symbols = [*word[:-1], f"{word[-1]}</w>"]
        while len(symbols) > 1:
            merged = symbols[0] + symbols[1]
            if merged not in known:
                merges.append((symbols[0], symbols[1]))
                tokens.append(merged)
                known.add(merged)
            symbols = [merged, *symbols[2:]]
    return {token: i for i, token in enumerate(tokens)}, merges


def _build_text(folder: Path) -> None:
    tokenizer = _hf.BertTokenizer(vocab=_wordpiece_vocab())
    tokenizer.model_max_length = 512
    config = _hf.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    _hf.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _build_image(folder: Path) -> None:
    config = _hf.ResNetConfig(
        num_channels=3,
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        hidden_act="relu",
    )
    _hf.ResNetModel(config).save_pretrained(folder)
    processor = _hf.ViTImageProcessor(
        size={"height": 64, "width": 64}, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD
    )
    processor.save_pretrained(folder)


def _build_clip(folder: Path) -> None:
    vocab, merges = _byte_bpe()
    tokenizer = _hf.CLIPTokenizer(vocab=vocab, merges=merges)
    tokenizer.model_max_length = 77
    # CLIP pools the text at the first end-of-text token: its ids must be the tokenizer's.
    special = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    config = _hf.CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            **special,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    _hf.CLIPModel(config).save_pretrained(folder)
    image_processor = _hf.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    _hf.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m moderation_lab.tiny_models DEST``: build and print the folders as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m moderation_lab.tiny_models DEST", file=sys.stderr)
        return 2
    paths = build_tiny_models(Path(args[0]))
    print(json.dumps({name: str(path) for name, path in paths.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
