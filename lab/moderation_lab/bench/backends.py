"""Every encoder on every backend, side by side: the same input batches, items per
second, utilisation of the peak of the precision the backend computes in, and agreement
with torch fp32 (embedding cosine, bias score).

Example::

    table = compare_backends(settings, texts, images, chosen, peaks, batch=8)
    table["clip_image"]["ort-int8"]["items_per_s"]
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from moderation_lab.bench.peaks import PRECISION_OF
from worker.config.settings import Settings
from worker.model import ModerationModel
from worker.model.backends import BACKENDS, ENCODERS, Encoder, onnxruntime_available
from worker.model.precision import cpu_has_native_bf16
from worker.model.preprocess import pad, rgb
from worker.model.types import PostFeatures

__all__ = ["available_backends", "compare_backends"]

Batches = dict[Encoder, list[tuple[Tensor, ...]]]


def available_backends() -> list[str]:
    """The CPU backends this machine can run (bf16 only with bf16 instructions)."""
    out = [b for b in BACKENDS if b != "auto"]
    if not cpu_has_native_bf16():
        out.remove("torch-bf16")
    if not onnxruntime_available():
        out = [b for b in out if not b.startswith("ort-")]
    return out


def _on(settings: Settings, backend: str) -> ModerationModel:
    every = {f"{encoder}_backend": backend for encoder in ENCODERS}
    return ModerationModel.load(settings.model_copy(update=every))


def _batches(
    model: ModerationModel, texts: Sequence[str], images: Sequence[Image.Image], batch: int
) -> Batches:
    """Input tensors per encoder, cut into batches, built once for every backend."""
    assert model.clip is not None
    pad_id = int(model.tokenizer.pad_token_id or 0)
    ids = [list(model.tokenize(t)) for t in texts]
    pixels = model.image_processor(images=rgb(images), return_tensors="pt")["pixel_values"]
    clip_pixels = model.clip.image_processor(images=rgb(images), return_tensors="pt")["pixel_values"]
    out: Batches = {encoder: [] for encoder in ENCODERS}
    for start in range(0, len(texts), batch):
        out["text"].append(pad(ids[start : start + batch], pad_id))
        tokens = model.clip.tokenizer(
            list(texts[start : start + batch]), padding=True, truncation=True, return_tensors="pt"
        )
        out["clip_text"].append((tokens["input_ids"], tokens["attention_mask"]))
    for start in range(0, len(images), batch):
        chunk = pixels[start : start + batch].contiguous(memory_format=torch.channels_last)
        out["image"].append((chunk,))
        out["clip_image"].append((clip_pixels[start : start + batch],))
    return out


def _run(model: ModerationModel, encoder: Encoder, batches: list[tuple[Tensor, ...]]) -> np.ndarray:
    runner = model.runner(encoder)
    return np.concatenate([runner(*inputs).numpy() for inputs in batches])


def _items_per_s(model: ModerationModel, encoder: Encoder, batches: list[tuple[Tensor, ...]]) -> float:
    items = sum(len(inputs[0]) for inputs in batches)
    started = time.perf_counter()
    _run(model, encoder, batches)
    return items / (time.perf_counter() - started)


def _flops_per_item(model: ModerationModel, encoder: Encoder, batches: list[tuple[Tensor, ...]]) -> float:
    """Counted on the fp32 graph: quantized kernels are invisible to the counter."""
    with FlopCounterMode(display=False) as counter:
        _run(model, encoder, batches)
    return float(counter.get_total_flops()) / sum(len(inputs[0]) for inputs in batches)


def _cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return float(cos.min())


def _bias_scores(model: ModerationModel, encoder: Encoder, rows: np.ndarray, text: np.ndarray) -> np.ndarray:
    if encoder == "text":
        posts = [PostFeatures(text=row) for row in rows]
    elif encoder == "image":
        posts = [PostFeatures(text=text[i % len(text)], images=[row]) for i, row in enumerate(rows)]
    else:
        return np.zeros(0)
    return np.array([s.bias_score for s in model.score(posts)])


def compare_backends(
    settings: Settings,
    texts: Sequence[str],
    images: Sequence[Image.Image],
    peaks: dict[str, float],
    *,
    batch: int,
    runs: int = 3,
) -> dict[str, Any]:
    """Per encoder and backend: items/s, utilisation, agreement with torch fp32."""
    reference = _on(settings, "torch-fp32")
    batches = _batches(reference, texts, images, batch)
    flops: dict[str, float] = {e: _flops_per_item(reference, e, batches[e]) for e in ENCODERS}
    fp32 = {e: _run(reference, e, batches[e]) for e in ENCODERS}
    fp32_scores = {e: _bias_scores(reference, e, fp32[e], fp32["text"]) for e in ENCODERS}
    # Every backend loaded at once, and the timed passes taken in turn (backend after
    # backend, ``runs`` rounds): a shared machine's speed drifts within minutes, and
    # backends timed minutes apart would carry that drift into their ratios.
    models = {b: reference if b == "torch-fp32" else _on(settings, b) for b in available_backends()}
    table: dict[str, Any] = {e: {} for e in ENCODERS}
    for backend, model in models.items():
        for encoder in ENCODERS:
            rows = _run(model, encoder, batches[encoder])  # also the warm-up
            scores = _bias_scores(reference, encoder, rows, fp32["text"])
            diff = float(np.abs(scores - fp32_scores[encoder]).max()) if len(scores) else None
            table[encoder][backend] = {
                "cosine_min": _cosine_min(fp32[encoder], rows),
                "bias_score_abs_diff_max": diff,
                "items_per_s_runs": [],
            }
    for _ in range(runs):
        for backend, model in models.items():
            for encoder in ENCODERS:
                rate = _items_per_s(model, encoder, batches[encoder])
                table[encoder][backend]["items_per_s_runs"].append(rate)
    for name, rows_by_backend in table.items():
        for backend, row in rows_by_backend.items():
            row["items_per_s"] = statistics.median(row["items_per_s_runs"])
            row["utilisation"] = row["items_per_s"] * flops[name] / peaks[PRECISION_OF[backend]]
    del models
    gc.collect()
    return {"encoders": table, "flops_per_item": flops, "batch": batch, "items": len(texts)}
