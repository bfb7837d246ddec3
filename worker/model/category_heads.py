"""The trained category heads of one model, scored after the built-in heads in each batch.

Example::

    heads = CategoryHeads.load(settings.classifiers, model.encoder_ids)
    heads.categories(posts)        # per post: {"hate": CategoryScore(...), ...}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from worker.config.classifiers import ClassifierSpec
from worker.errors import ConfigError
from worker.model.categories import CategoryScore, Modality, encoder_parts
from worker.model.category_head import CategoryHead, CategoryHeadConfig
from worker.model.types import PostFeatures

__all__ = ["CategoryHeads", "head_categories"]


def head_categories(spec: ClassifierSpec, config: CategoryHeadConfig) -> tuple[str, dict[int, str]]:
    """The head's part name and class index -> category, refusing a ``labels`` map naming a
    class the head lacks (``settings --check`` calls it with the head's category.json)."""
    given = spec.labels or config.categories
    unknown = sorted(set(given) - set(config.classes))
    if unknown:
        raise ConfigError(f"{spec.source}: classes {unknown} unknown; it has {list(config.classes)}")
    labels = {i: given[c] for i, c in enumerate(config.classes) if given.get(c)}
    return (spec.part_name() if spec.name else f"classifier:{config.name}"), labels


class CategoryHeads:
    """(part name, head, class index -> category) for each ``head`` spec."""

    def __init__(self, heads: Sequence[tuple[str, CategoryHead, dict[int, str]]] = ()) -> None:
        self.heads = list(heads)

    @classmethod
    def load(cls, specs: Sequence[ClassifierSpec], encoder_ids: Mapping[str, str]) -> CategoryHeads:
        loaded = []
        for spec in specs:
            if spec.kind != "head":
                continue
            head = CategoryHead.load(Path(spec.source), dict(encoder_ids))
            part, labels = head_categories(spec, head.config)
            loaded.append((part, head, labels))
        return cls(loaded)

    @property
    def category_names(self) -> set[str]:
        return {name for _, _, labels in self.heads for name in labels.values()}

    def components(self) -> dict[str, str]:
        return {part: head.weights_sha256 for part, head, _ in self.heads}

    def categories(self, posts: Sequence[PostFeatures]) -> list[dict[str, CategoryScore]]:
        found: list[dict[str, CategoryScore]] = [{} for _ in posts]
        for part, head, labels in self.heads:
            rows = [n for n, post in enumerate(posts) if head.applies(post)]
            if not rows:
                continue
            probs = head.probabilities([posts[n] for n in rows])
            applied: tuple[Modality, ...] = tuple(m for m in ("text", "image") if m in head.config.inputs)
            parts = (part, *encoder_parts(list(head.config.feature_ids)))  # TF-IDF alone: no encoder
            for row, n in enumerate(rows):
                for index, name in labels.items():
                    found[n][name] = CategoryScore(float(probs[row, index]), applied, parts)
        return found
