"""Every encoder on every backend, side by side: the same input batches, items per
second, utilisation of the peak of the precision the backend computes in, and agreement
with torch fp32 (embedding cosine, bias score).

Example::

    table = compare_backends(settings, texts, images, chosen, peaks, batch=8)
    table["clip_image"]["ort-int8"]["items_per_s"]
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from moderation_lab.bench.peaks import PRECISION_OF
from moderation_lab.bench.peers import PeerRunner, peer_runners, peer_versions
from moderation_lab.bench.sizing import MIN_SAMPLES, PassBudget, timed_runs
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


def _run(runner: PeerRunner, batches: list[tuple[Tensor, ...]]) -> np.ndarray:
    return np.concatenate([runner(*inputs).numpy() for inputs in batches])


def _items_per_s(runner: PeerRunner, batches: list[tuple[Tensor, ...]]) -> float:
    items = sum(len(inputs[0]) for inputs in batches)
    started = time.perf_counter()
    _run(runner, batches)
    return items / (time.perf_counter() - started)


def _flops_per_item(runner: PeerRunner, batches: list[tuple[Tensor, ...]]) -> float:
    """Counted on the fp32 graph: quantized kernels are invisible to the counter."""
    with FlopCounterMode(display=False) as counter:
        _run(runner, batches)
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


def _all_runners(
    settings: Settings,
    reference: ModerationModel,
    calibration: Batches,
    peers: bool,
) -> tuple[dict[str, dict[Encoder, PeerRunner]], dict[str, str]]:
    """The worker's backends (every one loaded at once), then the peer runtimes'."""
    runners: dict[str, dict[Encoder, PeerRunner]] = {}
    for backend in available_backends():
        model = reference if backend == "torch-fp32" else _on(settings, backend)
        runners[backend] = {encoder: model.runner(encoder) for encoder in ENCODERS}
    if not peers:
        return runners, {}
    # The graphs the worker exports to ONNX (the file is already in the cache then).
    graphs = reference._graphs()
    peer, missing = peer_runners(
        reference, graphs, calibration, settings.onnx_cache_dir, bf16=cpu_has_native_bf16()
    )
    return {**runners, **peer}, missing


def compare_backends(
    settings: Settings,
    texts: Sequence[str],
    images: Sequence[Image.Image],
    peaks: dict[str, float],
    *,
    batch: int,
    runs: int = 3,
    budget: PassBudget | None = None,
    on_round: Callable[[int, float], None] | None = None,
    peers: bool = False,
    calibration: tuple[Sequence[str], Sequence[Image.Image]] | None = None,
) -> dict[str, Any]:
    """Per encoder and backend: items/s, utilisation, agreement with torch fp32.

    With ``peers``, OpenVINO and CTranslate2 join the worker's backends where installed
    (int8 calibrated on ``calibration``, other inputs than those measured). The timed
    rounds are ``runs``, or as many as ``budget`` allows (bounded by time, so that a slow
    CPU still ends); the table says how many (``rounds``) and flags medians of fewer than
    three (``few_samples``). A backend an encoder cannot run has no row there; why is in
    ``missing``."""
    reference = _on(settings, "torch-fp32")
    batches = _batches(reference, texts, images, batch)
    flops: dict[str, float] = {e: _flops_per_item(reference.runner(e), batches[e]) for e in ENCODERS}
    fp32 = {e: _run(reference.runner(e), batches[e]) for e in ENCODERS}
    fp32_scores = {e: _bias_scores(reference, e, fp32[e], fp32["text"]) for e in ENCODERS}
    calibrating = _batches(reference, *calibration, batch) if calibration else batches
    # Every backend loaded at once, and the timed passes taken in turn (backend after
    # backend, round after round): a shared machine's speed drifts within minutes, and
    # backends timed minutes apart would carry that drift into their ratios.
    runners, missing = _all_runners(settings, reference, calibrating, peers)
    table: dict[str, Any] = {e: {} for e in ENCODERS}
    for backend, by_encoder in runners.items():
        for encoder, runner in by_encoder.items():
            rows = _run(runner, batches[encoder])  # also the warm-up
            scores = _bias_scores(reference, encoder, rows, fp32["text"])
            diff = float(np.abs(scores - fp32_scores[encoder]).max()) if len(scores) else None
            table[encoder][backend] = {
                "cosine_min": _cosine_min(fp32[encoder], rows),
                "bias_score_abs_diff_max": diff,
                "items_per_s_runs": [],
            }

    def one_round() -> None:
        for backend, by_encoder in runners.items():
            for encoder, runner in by_encoder.items():
                table[encoder][backend]["items_per_s_runs"].append(_items_per_s(runner, batches[encoder]))

    rounds = len(
        timed_runs(budget or PassBudget(max_runs=runs, seconds=math.inf), one_round, time.monotonic, on_round)
    )
    for name, rows_by_backend in table.items():
        for backend, row in rows_by_backend.items():
            row["items_per_s"] = statistics.median(row["items_per_s_runs"])
            row["utilisation"] = row["items_per_s"] * flops[name] / peaks[PRECISION_OF[backend]]
    runners.clear()
    gc.collect()
    return {
        "encoders": table,
        "flops_per_item": flops,
        "batch": batch,
        "items": len(texts),
        "rounds": rounds,
        "few_samples": rounds < MIN_SAMPLES,
        "missing": missing,
        "peer_versions": peer_versions() if peers else {},
        "calibration": "separate inputs" if calibration else "the measured inputs",
    }
