"""In-process measurements: our model's raw forward rate, its FLOPs per post, the
machine's fp32 matmul peak, and int8-versus-fp32 agreement.

Example::

    rates, flops = forward_posts_per_s(model, posts, images, batch=8)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from moderation_lab.bench.data import BenchCorpus, BenchPost
from worker.model import ModerationModel
from worker.model.types import PostFeatures, ReferenceFeatures

__all__ = [
    "agreement",
    "decode_agreement",
    "flops_by_part",
    "flops_per_post",
    "forward_pass",
    "forward_posts_per_s",
    "matmul_gflops",
]


def _run_batch(model: ModerationModel, posts: Sequence[BenchPost], images: Mapping[str, Image.Image]) -> None:
    """Everything the worker computes for these posts, with a cold cache."""
    texts = [p.text for p in posts] + [p.reference[1] for p in posts if p.reference]
    paths = [p.image_path for p in posts if p.image_path]
    ref_paths = [p.reference[2] for p in posts if p.reference and p.reference[2]]
    text_vectors = dict(zip(texts, model.encode_texts(texts), strict=True))
    image_vectors = dict(
        zip(paths + ref_paths, model.encode_images([images[p] for p in paths + ref_paths]), strict=True)
    )
    clip_on = model.clip is not None and paths
    clip_texts = [p.text for p in posts if p.image_path]
    clip_text = dict(zip(clip_texts, model.clip_encode_texts(clip_texts), strict=True)) if clip_on else {}
    clip_image = (
        dict(zip(paths, model.clip_encode_images([images[p] for p in paths]), strict=True)) if clip_on else {}
    )
    features = []
    for p in posts:
        reference = None
        if p.reference:
            ref_images = [image_vectors[p.reference[2]]] if p.reference[2] else []
            reference = ReferenceFeatures(text=text_vectors[p.reference[1]], images=ref_images)
        features.append(
            PostFeatures(
                text=text_vectors[p.text],
                images=[image_vectors[p.image_path]] if p.image_path else [],
                clip_text=clip_text.get(p.text) if p.image_path else None,
                clip_images=[clip_image[p.image_path]] if p.image_path and clip_image else [],
                reference=reference,
            )
        )
    model.score(features)


def forward_pass(
    model: ModerationModel, posts: Sequence[BenchPost], images: Mapping[str, Image.Image], batch: int
) -> float:
    """Posts per second of one pass over ``posts``, ``batch`` posts per call."""
    started = time.perf_counter()
    for start in range(0, len(posts), batch):
        _run_batch(model, posts[start : start + batch], images)
    return len(posts) / (time.perf_counter() - started)


def flops_per_post(
    model: ModerationModel, posts: Sequence[BenchPost], images: Mapping[str, Image.Image], batch: int
) -> float:
    """FLOPs per post of one batch of ``posts`` (after a warm-up batch, not counted)."""
    _run_batch(model, posts[:batch], images)
    with FlopCounterMode(display=False) as counter:
        _run_batch(model, posts[:batch], images)
    return float(counter.get_total_flops() / len(posts[:batch]))


def _counted(work: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        work()
    return float(counter.get_total_flops())


def flops_by_part(
    fp32: ModerationModel, posts: Sequence[BenchPost], images: Mapping[str, Image.Image], batch: int
) -> dict[str, float]:
    """FLOPs per post of each encoder and of the heads, counted on a torch fp32 model
    (the counter does not see quantized or ONNX Runtime kernels): the work is the same
    whatever backend then does it."""
    chunk = list(posts[:batch])
    texts = [p.text for p in chunk] + [p.reference[1] for p in chunk if p.reference]
    pics = [images[p] for p in BenchCorpus.image_paths(chunk)]
    with_image = [images[p.image_path] for p in chunk if p.image_path]
    clip_texts = [p.text for p in chunk if p.image_path]
    _run_batch(fp32, chunk, images)  # warm-up, not counted
    parts = {
        "text": _counted(lambda: fp32.encode_texts(texts)),
        "image": _counted(lambda: fp32.encode_images(pics)) if pics else 0.0,
    }
    if fp32.clip is not None and with_image:
        parts["clip_text"] = _counted(lambda: fp32.clip_encode_texts(clip_texts))
        parts["clip_image"] = _counted(lambda: fp32.clip_encode_images(with_image))
    parts["heads"] = max(0.0, _counted(lambda: _run_batch(fp32, chunk, images)) - sum(parts.values()))
    return {name: flops / len(chunk) for name, flops in parts.items()}


def forward_posts_per_s(
    model: ModerationModel,
    posts: Sequence[BenchPost],
    images: Mapping[str, Image.Image],
    batch: int,
    runs: int = 3,
) -> tuple[list[float], float]:
    """(posts per second of each of ``runs`` passes, FLOPs per post) of the model alone
    at ``batch`` posts per call."""
    flops = flops_per_post(model, posts, images, batch)
    return [forward_pass(model, posts, images, batch) for _ in range(runs)], flops


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 matrix-multiply rate of this machine (median of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times) / 1e9


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return result


def decode_agreement(
    model: ModerationModel, full: Sequence[Image.Image], reduced: Sequence[Image.Image]
) -> dict[str, float]:
    """How far image embeddings move when the same JPEGs are decoded at a reduced scale."""
    result = {
        "resnet_image_embedding_cosine_min": float(
            _cosines(model.encode_images(full), model.encode_images(reduced)).min()
        )
    }
    if model.clip is not None:
        result["clip_image_embedding_cosine_min"] = float(
            _cosines(model.clip_encode_images(full), model.clip_encode_images(reduced)).min()
        )
    return result


def agreement(
    fp32: ModerationModel, other: ModerationModel, texts: Sequence[str], images: Sequence[Image.Image]
) -> dict[str, float]:
    """How far ``other`` (e.g. int8) strays from fp32 on the same inputs."""
    t32, t8 = fp32.encode_texts(texts), other.encode_texts(texts)
    i32, i8 = fp32.clip_encode_images(images), other.clip_encode_images(images)
    r32, r8 = fp32.encode_images(images), other.encode_images(images)  # ResNet: bf16 where native
    f32 = [PostFeatures(text=t) for t in t32]
    f8 = [PostFeatures(text=t) for t in t8]
    s32 = np.array([s.bias_score for s in fp32.score(f32)])
    s8 = np.array([s.bias_score for s in other.score(f8)])
    return {
        "text_embedding_cosine_min": float(_cosines(t32, t8).min()),
        "clip_image_embedding_cosine_min": float(_cosines(i32, i8).min()),
        "resnet_image_embedding_cosine_min": float(_cosines(r32, r8).min()),
        "bias_score_abs_diff_max": float(np.abs(s32 - s8).max()),
        "bias_score_abs_diff_mean": float(np.abs(s32 - s8).mean()),
    }
