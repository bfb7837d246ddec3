"""Labelled CSVs for training and evaluation, read and checked.

Two formats:

- **entailment**: the multimodal-entailment layout
  (``id_1,text_1,image_1,id_2,text_2,image_2,label``; optional ``image_1_path`` /
  ``image_2_path`` name local copies of the images, relative to the CSV's folder).
  Post 1 is the earlier (referenced) post, post 2 the one being judged, as in the
  live worker. Labels are ``names.ENTAILMENT_LABELS``.
- **bias**: ``text,image_url,label`` with label ``1``/``biased`` or ``0``/``unbiased``.

Example::

    pairs = read_entailment_csv(Path("../shared/data/multimodal-entailment/train_df.csv"))
    pairs[0].second.text, pairs[0].label
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from worker.errors import ModerationError
from worker.names import ENTAILMENT_LABELS

__all__ = [
    "BIAS_LABELS",
    "BiasExample",
    "DatasetError",
    "EntailmentPair",
    "ImageRef",
    "Post",
    "file_sha256",
    "read_bias_csv",
    "read_entailment_csv",
]

#: Output order of the bias task: index 1 is the positive ("biased") class.
BIAS_LABELS = ("unbiased", "biased")
_BIAS_VALUES = {"0": 0, "1": 1, "unbiased": 0, "biased": 1, "false": 0, "true": 1}
_ENTAILMENT_COLUMNS = ("id_1", "text_1", "image_1", "id_2", "text_2", "image_2", "label")
_BIAS_COLUMNS = ("text", "image_url", "label")


class DatasetError(ModerationError):
    """A training or evaluation CSV cannot be used (missing file or column, bad label)."""

    kind = "dataset_error"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Where a post's image may be found: a local file (tried first) and/or a URL."""

    url: str = ""
    path: Path | None = None

    @property
    def key(self) -> str:
        return str(self.path) if self.path is not None else self.url

    @property
    def empty(self) -> bool:
        return not self.url and self.path is None


@dataclass(frozen=True, slots=True)
class Post:
    text: str
    image: ImageRef


@dataclass(frozen=True, slots=True)
class EntailmentPair:
    """Two posts and how the first relates to the second."""

    id_1: str
    first: Post
    id_2: str
    second: Post
    label: str


@dataclass(frozen=True, slots=True)
class BiasExample:
    post: Post
    label: int  # index into BIAS_LABELS


def read_entailment_csv(path: Path) -> list[EntailmentPair]:
    """Every row of a multimodal-entailment CSV, in file order."""
    pairs = []
    for line, row in _rows(path, _ENTAILMENT_COLUMNS):
        label = row["label"].strip()
        if label not in ENTAILMENT_LABELS:
            raise DatasetError(f"{path}:{line}: label {label!r} is not one of {ENTAILMENT_LABELS}")
        first = Post(row["text_1"], _image(path, row["image_1"], row.get("image_1_path")))
        second = Post(row["text_2"], _image(path, row["image_2"], row.get("image_2_path")))
        if not all(post.text.strip() or not post.image.empty for post in (first, second)):
            raise DatasetError(f"{path}:{line}: each post of a pair needs text or an image")
        pairs.append(EntailmentPair(row["id_1"], first, row["id_2"], second, label))
    return pairs


def read_bias_csv(path: Path) -> list[BiasExample]:
    """Every row of a ``text,image_url,label`` CSV, in file order."""
    examples = []
    for line, row in _rows(path, _BIAS_COLUMNS):
        value = row["label"].strip().lower()
        if value not in _BIAS_VALUES:
            raise DatasetError(f"{path}:{line}: bias label {row['label']!r} is not 0/1/biased/unbiased")
        post = Post(row["text"], _image(path, row["image_url"], row.get("image_path")))
        if not post.text.strip() and post.image.empty:
            raise DatasetError(f"{path}:{line}: a row needs text or an image")
        examples.append(BiasExample(post, _BIAS_VALUES[value]))
    return examples


def file_sha256(path: Path) -> str:
    """sha256 of a data file, recorded with what was trained or evaluated on it."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: missing columns {missing} (has {reader.fieldnames})")
            empty = True
            for row in reader:
                empty = False
                # Short rows leave None; a value is always a string from here on.
                yield reader.line_num, {k: v or "" for k, v in row.items() if k is not None}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if empty:
        raise DatasetError(f"{path} has no rows")


def _image(csv_path: Path, url: str, local: str | None) -> ImageRef:
    candidate = csv_path.parent / local if local else None
    return ImageRef(url=url.strip(), path=candidate if candidate and candidate.is_file() else None)
