"""The heads compared: the demo's TF-IDF recipe on the declared split, with and without the normaliser.

Both are trained on the training part of :func:`worker.training.splits.holdout_split`
(stratified 80/20, seed 0) and written under one folder, each beside a ``split.json``
naming the data, the split and the normaliser; a later run reuses a head whose
``split.json`` still says the same, so an interrupted run resumes where it stopped.

Example::

    data = read_category_csv(csv_path, "tweet", "class")
    split = holdout_split(data.labels)
    categories = {"0": "hate", "1": "offensive", "2": ""}
    folders = train_heads(data, split, categories, Path(".models/evasion"), print)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from worker.text.normalise import NORMALISER_ID
from worker.training.category import CategoryData, CategoryTrainConfig, train_category
from worker.training.splits import Split
from worker.training.store import NoStore

__all__ = ["HEADS", "part", "train_heads"]

#: folder name -> whether its TF-IDF reads normalised text
HEADS = {"normalised": True, "as-written": False}


def part(data: CategoryData, rows: list[int]) -> CategoryData:
    return CategoryData([data.texts[i] for i in rows], [data.labels[i] for i in rows], data.sha256)


def _stamp(data: CategoryData, split: Split, normalise: bool) -> dict[str, object]:
    return {
        "data_sha256": data.sha256,
        "split": split.describe(),
        "normaliser": NORMALISER_ID if normalise else None,
    }


def train_heads(
    data: CategoryData, split: Split, categories: dict[str, str], out: Path, say: Callable[[str], object]
) -> dict[str, Path]:
    """Train (or reuse) each head of :data:`HEADS` on ``split.train``; folder name -> folder."""
    folders = {}
    training = part(data, [int(i) for i in split.train])
    for name, normalise in HEADS.items():
        folder = out / name
        stamp = _stamp(data, split, normalise)
        marker = folder / "split.json"
        if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == stamp:
            say(f"head {name!r}: reusing {folder}")
        else:
            say(f"head {name!r}: training on {len(training.texts)} rows into {folder}")
            config = CategoryTrainConfig(
                name="hate_offensive",
                categories=categories,
                encoder_features=False,
                cv_folds=0,
                baselines=False,
                normalise=normalise,
            )
            record = train_category(None, config, training, NoStore(), folder)
            marker.write_text(json.dumps(stamp, indent=2), encoding="utf-8")
            say(f"head {name!r}: trained in {record.minutes['total']:.1f} min")
        folders[name] = folder
    return folders
