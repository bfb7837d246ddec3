"""What a fine-tuned category (``train ... --fine-tune``, classifier kind ``finetuned``)
costs per post, for the bench's category costs (:mod:`moderation_lab.bench.categories`).

The folder is built as :mod:`worker.finetune` writes one, without training (the cost
does not depend on what the weights learnt): the packaged MiniLM-L6 encoder with a
random two-class head, saved by ``save_model`` and exported by ``export_onnx``, which
writes ``model.onnx`` and an int8 file per recipe, marking each usable only where it
decides as fp32 on the bench texts on this machine; this CPU's recipe is the one timed.
It is served through the worker's own
:class:`~worker.model.classifiers.finetuned.FineTunedClassifier`, once per ONNX file,
each row saying which one the worker would serve (``backend="auto"``).

Each is a cold figure: one more encoder pass per distinct text. A text the cache has
seen costs the worker one Redis MGET per micro-batch instead (its probabilities are
cached under ``classify_text:<name>``); that is timed too, through the worker's
:class:`~worker.inference.cache.EmbeddingCache` on a local ``redis-server`` (left out,
with the reason, where none is installed).

Example::

    rows = finetuned_costs(texts, folder, encoder=minilm, batch=16, repeats=5, timer=median_ms)
    rows["fine-tuned MiniLM-L6, ONNX int8"]["ms_per_item"]
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation_lab.embedded.redis_server import EmbeddedRedis
from moderation_lab.errors import ServiceError
from worker.finetune.export import AGREEMENT, export_onnx
from worker.finetune.model import FineTunedConfig, PooledClassifier, load_tokenizer, read_config, save_model
from worker.finetune.recipe import FineTuneRecipe
from worker.finetune.text import normaliser_id
from worker.model.classifiers.finetuned import FineTunedClassifier
from worker.model.onnx_export import int8_recipe

__all__ = ["build_folder", "cached_ms_per_post", "finetuned_costs"]

#: Times ``work`` over ``items`` in batches: median milliseconds per item.
Timer = Callable[[Callable[[Sequence[Any]], object], Sequence[Any], int, int], float]

_NOTE = "random head, not trained: built by moderation_lab.bench for timing only"


def build_folder(folder: Path, encoder: str, texts: Sequence[str]) -> list[str]:
    """A fine-tuned folder from ``encoder`` with a random head, exported to ONNX (fp32, and
    int8 marked usable where it agrees on ``texts``); reused when already built from the
    same encoder under this worker's normaliser (the classifier refuses another). Returns
    the export's report lines (empty when reused)."""
    if (folder / "finetune.json").is_file():
        config = read_config(folder)
        same = config.recipe.encoder == encoder and config.recipe.normaliser == normaliser_id()
        if same and config.onnx.get("fp32") and _int8(config.onnx):
            return []
    model = PooledClassifier.from_encoder(encoder, n_classes=2, dropout=0.1)
    config = FineTunedConfig(
        name="bench",
        classes=("0", "1"),
        categories={"0": "", "1": "bench"},
        recipe=FineTuneRecipe(encoder=encoder, normaliser=normaliser_id()),
        data={"note": _NOTE},
    )
    save_model(folder, model.eval(), load_tokenizer(encoder), config)
    return export_onnx(folder, texts=list(texts))


def _int8(onnx: dict[str, Any]) -> dict[str, Any]:
    """This CPU's int8 file of the export (``{file, agreement, usable}``), or ``{}``."""
    files = onnx.get("int8")
    return dict(files.get(int8_recipe(), {})) if isinstance(files, dict) else {}


def _hashes(texts: Sequence[str]) -> list[str]:
    return [hashlib.sha256(text.encode()).hexdigest() for text in texts]


async def _cached(url: str, probabilities: np.ndarray, hashes: list[str], batch: int, repeats: int) -> float:
    import redis.asyncio as aioredis

    from worker.inference.cache import EmbeddingCache

    cache = EmbeddingCache(aioredis.Redis.from_url(url), "bench", 3600, 3600)
    kind, encoder_id = "classify_text:bench", "bench"
    try:
        await cache.put_many(kind, encoder_id, dict(zip(hashes, probabilities, strict=True)))
        passes = []
        for n in range(repeats + 1):  # the first pass warms the connection pool, not timed
            started = time.perf_counter()
            for start in range(0, len(hashes), batch):
                found = await cache.get_many(kind, encoder_id, hashes[start : start + batch])
                if len(found) != len(set(hashes[start : start + batch])):
                    raise RuntimeError("the cache lost probabilities it was just given")
            if n:
                passes.append((time.perf_counter() - started) * 1000 / len(hashes))
        return statistics.median(passes)
    finally:
        await cache.aclose()


def cached_ms_per_post(
    probabilities: np.ndarray, texts: Sequence[str], workdir: Path, batch: int, repeats: int
) -> float:
    """Milliseconds per post of reading the classifier's cached outputs back (one MGET of
    ``batch`` keys per micro-batch, as the worker's lookup does), on a local redis-server."""
    with EmbeddedRedis(workdir) as server:
        return asyncio.run(_cached(server.url, probabilities, _hashes(texts), batch, repeats))


def finetuned_costs(
    texts: Sequence[str],
    folder: Path,
    *,
    encoder: str,
    size: str,
    batch: int,
    repeats: int,
    timer: Timer,
) -> dict[str, dict[str, Any]]:
    """Rows ``{name: {per, ms_per_item, note, ...}}`` for a fine-tuned model of ``encoder``:
    each ONNX file cold, then the cached lookup."""
    build_folder(folder, encoder, texts)
    config = read_config(folder)
    int8 = _int8(config.onnx)
    served = "int8" if int8.get("usable") else "fp32"
    agreed = float(int8.get("agreement", {}).get("decisions", 0.0))
    rows: dict[str, dict[str, Any]] = {}
    classifiers = {p: FineTunedClassifier(folder, "classifier:bench", backend=p) for p in ("int8", "fp32")}
    for precision, classifier in classifiers.items():
        ms = timer(classifier.predict, texts, batch, repeats)
        if precision == served:
            why = "served (the worker's choice here): its own encoder pass per distinct text, no cache"
        elif precision == "int8":
            why = (
                f"not served here: decided as fp32 on {agreed:.0%} of the bench texts (below {AGREEMENT:.0%})"
            )
        else:
            why = "not served here (int8 agrees): the fallback where int8 does not"
        rows[f"fine-tuned {size}, ONNX {precision}"] = {
            "per": "post",
            "ms_per_item": ms,
            "note": why,
            "backend": classifier.backend,
            "served": precision == served,
        }
    probabilities = classifiers[served].predict(list(texts))
    name = f"fine-tuned {size}, cached"
    try:
        ms = cached_ms_per_post(probabilities, texts, folder.parent / "redis", batch, repeats)
    except ServiceError as exc:  # no redis-server here: said, not guessed
        rows[name] = {"per": "post", "ms_per_item": None, "note": f"not measured: {exc}"}
    else:
        note = "a text the cache has seen: one Redis MGET per micro-batch, no encoder pass"
        rows[name] = {"per": "post", "ms_per_item": ms, "note": note, "backend": "redis"}
    return rows
