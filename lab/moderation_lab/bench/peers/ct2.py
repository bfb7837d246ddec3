"""CTranslate2 peers of the worker's text encoder: the BERT the worker loaded (its
weights, as loaded), converted once by CTranslate2's Transformers converter and run by
its encoder in int8 (``ct2-int8``: int8 weights and matrix multiplies, the rest fp32)
and fp32 (``ct2-fp32``), with the worker's pooling (CLS token or masked mean).

What it cannot run, said plainly: CTranslate2's converter handles BERT-style encoders
(BERT, DistilBERT, RoBERTa, XLM-R) but not CLIP's text tower (causal attention mask,
pre-norm layers, quick-GELU, pooling at the end-of-text token) nor any vision model, so
the CLIP towers and the ResNet have no CTranslate2 row. Its CPU build here offers no bf16
compute type.

Example::

    runners, skipped = ctranslate2_runners(model, cache_dir)
    runners["ct2-int8"]["text"](input_ids, attention_mask)   # [N, 768] fp32 tensor
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from worker.model import ModerationModel
from worker.model.backends import Encoder

__all__ = ["UNSUPPORTED", "Ct2TextRunner", "ctranslate2_runners"]

#: The encoders CTranslate2 has no converter for, and why.
UNSUPPORTED: dict[Encoder, str] = {
    "image": "no vision models in CTranslate2",
    "clip_text": "CLIP's text tower has no CTranslate2 converter (causal mask, pre-norm, EOS pooling)",
    "clip_image": "no vision models in CTranslate2",
}
_COMPUTE = {"ct2-int8": "int8", "ct2-fp32": "float32"}


class Ct2TextRunner:
    """The encoder's last hidden states pooled as the worker pools them."""

    def __init__(self, encoder: Any, pooling: str, backend: str) -> None:
        self.encoder, self.pooling, self.backend = encoder, pooling, backend

    def __call__(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        import ctranslate2

        lengths = attention_mask.sum(dim=1).to(torch.int32)
        ids = ctranslate2.StorageView.from_array(np.ascontiguousarray(input_ids.numpy().astype(np.int32)))
        output = self.encoder.forward_batch(ids, ctranslate2.StorageView.from_array(lengths.numpy()))
        states = torch.from_numpy(np.array(output.last_hidden_state, dtype=np.float32))
        if self.pooling == "cls":
            return states[:, 0, :]
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _absolute_positions(config: Path) -> None:
    """transformers 5 dropped BERT's ``position_embedding_type`` (absolute positions are
    all it has now); CTranslate2 4.8's converter still asserts it is "absolute"."""
    values = json.loads(config.read_text())
    values.setdefault("position_embedding_type", "absolute")
    config.write_text(json.dumps(values))


def _converted(model: ModerationModel, cache_dir: Path) -> Path:
    """The loaded text encoder in CTranslate2's format (fp32 weights; quantized on load)."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    key = model.encoder_ids["text"].replace(":", "-").replace("/", "-")
    target = cache_dir / f"text-{key}-ct2-{ctranslate2.__version__}"
    if (target / "model.bin").is_file():
        return target
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        source = Path(tmp) / "hf"
        encoder: Any = model.bias.text_encoder
        encoder.save_pretrained(source)
        model.tokenizer.save_pretrained(source)
        _absolute_positions(source / "config.json")
        staged = Path(tmp) / "ct2"
        TransformersConverter(str(source)).convert(str(staged), quantization=None, force=True)
        staged.replace(target)
    return target


def ctranslate2_runners(
    model: ModerationModel, cache_dir: Path
) -> tuple[dict[str, dict[Encoder, Callable[..., Tensor]]], dict[str, str]]:
    """Runners per CTranslate2 backend (the text encoder only), and peers left out."""
    import ctranslate2

    cache_dir.mkdir(parents=True, exist_ok=True)
    path = _converted(model, cache_dir)
    threads = torch.get_num_threads()
    out: dict[str, dict[Encoder, Callable[..., Tensor]]] = {}
    for backend, compute in _COMPUTE.items():
        encoder = ctranslate2.Encoder(str(path), device="cpu", compute_type=compute, intra_threads=threads)
        out[backend] = {"text": Ct2TextRunner(encoder, model.bias.text_pooling, backend)}
    missing = {f"{backend} {encoder}": why for backend in _COMPUTE for encoder, why in UNSUPPORTED.items()}
    return out, missing
