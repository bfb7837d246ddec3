"""Model folders derived from the tiny models, for identity and compatibility tests."""

from __future__ import annotations

from pathlib import Path

import torch

import worker.model  # noqa: F401  (makes transformers importable; see worker/model/compat.py)


def perturbed_text_encoder(source: Path, dest: Path) -> Path:
    """A copy of the tiny BERT with one weight changed by a tiny amount: another encoder."""
    from transformers import AutoModel, AutoTokenizer  # after worker.model, see above

    bert = AutoModel.from_pretrained(source)
    with torch.no_grad():
        bert.pooler.dense.bias[0] += 1e-4
    bert.save_pretrained(dest)
    AutoTokenizer.from_pretrained(source).save_pretrained(dest)
    return dest
