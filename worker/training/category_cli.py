"""``moderation-worker train --category NAME data.csv``: a category head, cross-validated.

Example::

    moderation-worker train --category hate_offensive data.csv --text-column tweet \\
        --label-column class --labels "0=hate,1=offensive,2=" --text-encoder minilm
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from worker.errors import ModelError
from worker.training.store import FeatureStore

if TYPE_CHECKING:
    from worker.model import ModerationModel

__all__ = ["category_model", "parse_labels", "read_category_csv", "run_category_training"]

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


def read_category_csv(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and labels (as written) from a CSV; rows without a label are refused."""
    csv.field_size_limit(_CSV_LIMIT)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {text_column, label_column} - set(reader.fieldnames or [])
            if missing:
                raise ModelError(f"{path}: no column {sorted(missing)}; it has {reader.fieldnames}")
            rows = [(row[text_column] or "", (row[label_column] or "").strip()) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    unlabelled = [n for n, (_, label) in enumerate(rows) if not label]
    if unlabelled:
        raise ModelError(
            f"{path}: {len(unlabelled)} rows have no {label_column!r}, e.g. row {unlabelled[0] + 2}"
        )
    if len({label for _, label in rows}) < 2:
        raise ModelError(f"{path}: {label_column!r} has fewer than two distinct values")
    return [text for text, _ in rows], [label for _, label in rows]


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
    columns: tuple[str, str],
    out: Path,
    store: FeatureStore,
) -> list[str]:
    """Train and write the head; returns the report's lines."""
    from worker.training.category import CategoryData, CategoryTrainConfig, train_category
    from worker.training.category_report import category_lines
    from worker.training.data import file_sha256

    text_encoder, image_encoder, pooling, links = model_settings
    config = CategoryTrainConfig.model_validate(config_raw)
    texts, labels = read_category_csv(csv_path, *columns)
    unknown = sorted(set(config.categories) - set(labels))
    if unknown:
        raise ModelError(f"--labels names {unknown}, which {columns[1]!r} never holds")
    model = category_model(text_encoder, image_encoder, pooling, links)
    encoder = {"text_encoder": text_encoder, "pooling": pooling, "links": links}
    rows = CategoryData(texts, labels, file_sha256(csv_path))
    record = train_category(model, config, rows, store, out, encoder)
    return category_lines(record, csv_path.name)
