"""What ``moderation-worker train category NAME data.csv`` runs: the CSV read, the head trained.

Example::

    moderation-worker train category hate_offensive data.csv --text-column tweet \\
        --label-column class --labels "0=hate,1=offensive,2=" --text-encoder minilm
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from worker.errors import ModelError, validation_problems
from worker.training.category import CategoryData
from worker.training.data import ImageRef, file_sha256
from worker.training.store import FeatureStore

if TYPE_CHECKING:
    from worker.model import ModerationModel

__all__ = ["category_model", "image_refs", "parse_labels", "read_category_csv", "run_category_training"]

#: Figures to beat: frozen encoder features alone, and TF-IDF alone (both cross-validated
#: on the same folds by ``--baselines``).
_CSV_LIMIT = 1 << 24


def parse_labels(text: str) -> dict[str, str]:
    """``"0=hate,1=offensive,2="`` -> ``{"0": "hate", "1": "offensive", "2": ""}``."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, sep, category = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--labels: {item!r} is not LABEL=CATEGORY (empty CATEGORY: not one)")
        mapping[label.strip()] = category.strip()
    return mapping


def read_category_csv(
    path: Path, text_column: str, label_column: str, image_column: str | None = None
) -> CategoryData:
    """Texts, labels (as written) and, with ``image_column``, each row's images from a CSV;
    rows without a label are refused. An image cell holds references separated by spaces:
    http(s) URLs, fetched as the worker fetches, or files relative to the CSV's folder."""
    csv.field_size_limit(_CSV_LIMIT)
    columns = {text_column, label_column} | ({image_column} if image_column else set())
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = columns - set(reader.fieldnames or [])
            if missing:
                raise ModelError(f"{path}: no column {sorted(missing)}; it has {reader.fieldnames}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    labels = [(row[label_column] or "").strip() for row in rows]
    unlabelled = [n for n, label in enumerate(labels) if not label]
    if unlabelled:
        raise ModelError(
            f"{path}: {len(unlabelled)} rows have no {label_column!r}, e.g. row {unlabelled[0] + 2}"
        )
    if len(set(labels)) < 2:
        raise ModelError(f"{path}: {label_column!r} has fewer than two distinct values")
    images = None
    if image_column:
        images = [image_refs(row[image_column] or "", path.parent) for row in rows]
    return CategoryData([row[text_column] or "" for row in rows], labels, file_sha256(path), images)


def image_refs(cell: str, folder: Path) -> tuple[ImageRef, ...]:
    """A CSV cell's image references: ``http(s)`` URLs, else files relative to ``folder``."""
    return tuple(
        ImageRef(url=ref) if ref.startswith(("http://", "https://")) else ImageRef(path=folder / ref)
        for ref in cell.split()
    )


def category_model(
    text_encoder: str | None, image_encoder: str | None, pooling: str, links: str
) -> ModerationModel:
    """The model whose text encoder a category head is trained and evaluated on."""
    from worker.model import ModerationModel
    from worker.model.heads import HeadsConfig
    from worker.training.runtime import auto_pooling, training_settings

    settings = training_settings(text_encoder, image_encoder).model_copy(update={"clip_model": ""})
    heads = HeadsConfig(
        text_pooling=auto_pooling(settings.text_encoder) if pooling == "auto" else pooling,
        text_links=links,
    )
    return ModerationModel.load(settings, fresh_heads=heads)


def run_category_training(
    model_settings: tuple[str | None, str | None, str, str],
    config_raw: dict[str, object],
    csv_path: Path,
    columns: tuple[str, str, str | None],
    out: Path,
    store: FeatureStore,
) -> list[str]:
    """Train and write the head; returns the report's lines. ``columns``: the text, label
    and image column (``None``: a text head)."""
    from worker.training.category import CategoryTrainConfig, train_category
    from worker.training.category_report import category_lines

    text_encoder, image_encoder, pooling, links = model_settings
    try:
        config = CategoryTrainConfig.model_validate(config_raw)
    except ValidationError as exc:
        raise ModelError(f"bad options: {validation_problems(exc)}") from exc
    if "image" in config.inputs and not columns[2]:
        raise ModelError(f"--inputs {config.inputs} reads each row's images: name them with --image-column")
    data = read_category_csv(csv_path, *columns)
    unknown = sorted(set(config.categories) - set(data.labels))
    if unknown:
        raise ModelError(f"--labels names {unknown}, which {columns[1]!r} never holds")
    # TF-IDF alone needs no encoder: no model to load (nor to download).
    model = category_model(text_encoder, image_encoder, pooling, links) if config.encoder_features else None
    encoder = {
        "text_encoder": text_encoder,
        "image_encoder": image_encoder,
        "pooling": pooling,
        "links": links,
    }
    record = train_category(model, config, data, store, out, encoder)
    return category_lines(record, csv_path.name)
