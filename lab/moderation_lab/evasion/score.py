"""A category head's figures on labelled texts, as the worker's default policy would flag them.

The head scores each text as the worker does (:meth:`CategoryHead.probabilities` on the
text as sent; a head trained with the normaliser normalises it itself). A post is
flagged when any category scores 0.5 or more (the policy's default threshold).
Reported: macro-F1 of the most probable class, the share of the rows labelled with a
category that are flagged (recall), the share of the others flagged (false flags),
and per category the share of its rows it flags.

Example::

    figures = score_texts(head, texts, labels)
    figures.macro_f1, figures.recall, figures.false_flags
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker.model.category_head import CategoryHead
from worker.model.types import PostFeatures
from worker.training.metrics import classification_report

__all__ = ["FLAG_THRESHOLD", "Figures", "score_texts"]

FLAG_THRESHOLD = 0.5
_CHUNK = 2048


@dataclass(frozen=True)
class Figures:
    macro_f1: float
    recall: float  # rows labelled with a category that are flagged
    false_flags: float  # rows labelled with none that are flagged
    per_category: dict[str, float]  # category -> share of its rows it flags


def _probabilities(head: CategoryHead, texts: Sequence[str]) -> np.ndarray:
    posts = [PostFeatures(raw_text=text) for text in texts]
    return np.concatenate([head.probabilities(posts[i : i + _CHUNK]) for i in range(0, len(posts), _CHUNK)])


def score_texts(head: CategoryHead, texts: Sequence[str], labels: Sequence[str]) -> Figures:
    """The head's figures on ``texts`` (``labels``: each row's class, as the head names them)."""
    classes = list(head.config.classes)
    categories = head.config.categories
    probs = _probabilities(head, texts)
    y = np.asarray([classes.index(label) for label in labels])
    shown = [categories.get(c) or c for c in classes]
    report = classification_report(y, probs.argmax(axis=1), shown)
    flagging = [i for i, c in enumerate(classes) if categories.get(c)]
    flagged: npt.NDArray[np.bool_] = np.asarray((probs[:, flagging] >= FLAG_THRESHOLD).any(axis=1))
    positive: npt.NDArray[np.bool_] = np.isin(y, flagging)
    per_category = {
        categories[classes[i]]: float((probs[y == i, i] >= FLAG_THRESHOLD).mean())
        for i in flagging
        if (y == i).any()
    }
    return Figures(
        macro_f1=report.macro_f1,
        recall=float(flagged[positive].mean()) if positive.any() else 0.0,
        false_flags=float(flagged[~positive].mean()) if (~positive).any() else 0.0,
        per_category=per_category,
    )
