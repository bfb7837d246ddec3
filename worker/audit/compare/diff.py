"""How two verdict sets over the same posts differ: agreement per head, label flips in
both directions with examples, and the distribution of score differences. Pure.

Posts are joined on ``post_id``. A head is compared on the posts where at least one
side has it (``(none)`` stands for the missing side: an entailment scored on one side
only, a CLIP result on one side only). Differences are right minus left.

Example::

    result = compare_sets(live, replay, examples=5)
    [(h.head, h.rate) for h in result.heads]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from worker.audit.compare.load import VerdictSet
from worker.audit.replay.canonical import canonical
from worker.names import ENTAILMENT_LABELS

__all__ = ["Comparison", "Example", "HeadAgreement", "ScoreDiff", "compare_sets"]

Verdict = dict[str, Any]
NONE = "(none)"


@dataclass(frozen=True)
class Example:
    post_id: str
    left: str
    right: str


@dataclass
class HeadAgreement:
    """One head's labels on both sides; ``flips`` maps (left label, right label) to a count."""

    head: str
    compared: int = 0
    agree: int = 0
    flips: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[Example]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.agree / self.compared if self.compared else 1.0


@dataclass
class ScoreDiff:
    """Right-minus-left differences of one score over the posts where both sides have it."""

    name: str
    deltas: list[float] = field(default_factory=list)
    post_ids: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, float]:
        if not self.deltas:
            return {}
        values = np.asarray(self.deltas, dtype=np.float64)
        magnitude = np.abs(values)
        return {
            "mean": float(values.mean()),
            "mean_abs": float(magnitude.mean()),
            "median_abs": float(np.median(magnitude)),
            "p95_abs": float(np.percentile(magnitude, 95)),
            "max_abs": float(magnitude.max()),
        }

    @property
    def worst(self) -> str | None:
        magnitude = np.abs(np.asarray(self.deltas, dtype=np.float64))
        if not magnitude.size or magnitude.max() == 0:
            return None
        return self.post_ids[int(np.argmax(magnitude))]


@dataclass(frozen=True)
class Comparison:
    left: VerdictSet
    right: VerdictSet
    joined: list[str]
    heads: list[HeadAgreement]
    scores: list[ScoreDiff]
    identical: int = 0  # joined posts whose verdicts are equal apart from processing times

    @property
    def only_left(self) -> int:
        return len(self.left.verdicts) - len(self.joined)

    @property
    def only_right(self) -> int:
        return len(self.right.verdicts) - len(self.joined)


def _entailment(v: Verdict) -> str | None:
    e = v.get("entailment")
    return None if e is None else (e["label"] or "(reference unavailable)")


def _clip(v: Verdict) -> str | None:
    return None if v.get("clip") is None else str(v["clip"]["top_label"])


def _probability(v: Verdict, label: str) -> float | None:
    e = v.get("entailment")
    return None if e is None or not e.get("probabilities") else float(e["probabilities"][label])


def _clip_similarity(v: Verdict) -> float | None:
    return None if v.get("clip") is None else float(v["clip"]["max_similarity"])


def _clip_detail(v: Verdict) -> str:
    clip = v.get("clip")
    return "-" if clip is None else f"p={clip['zero_shot'][clip['top_label']]:.3f}"


#: head -> (label, detail shown in examples)
HEADS: dict[str, tuple[Callable[[Verdict], str | None], Callable[[Verdict], str]]] = {
    "bias label": (
        lambda v: str(v["bias"]["label"] or "untrained"),  # v3: no label from random weights
        lambda v: f"score {v['bias']['score']:.3f} (threshold {v['bias']['threshold']})",
    ),
    "entailment label": (_entailment, lambda v: _entailment(v) or "-"),
    "CLIP top label": (_clip, _clip_detail),
    "flagged": (
        lambda v: "flagged" if v["flagged"] else "not flagged",
        lambda v: "; ".join(v["flag_reasons"]) or "-",
    ),
}

SCORES: dict[str, Callable[[Verdict], float | None]] = {
    "bias score": lambda v: float(v["bias"]["score"]),
    **{f"P({label})": partial(_probability, label=label) for label in ENTAILMENT_LABELS},
    "CLIP max similarity": _clip_similarity,
}


def compare_sets(left: VerdictSet, right: VerdictSet, examples: int = 5) -> Comparison:
    """Compare the posts both sets have a verdict for."""
    joined = sorted(left.verdicts.keys() & right.verdicts.keys())
    heads = [HeadAgreement(name) for name in HEADS]
    scores = [ScoreDiff(name) for name in SCORES]
    identical = 0
    for post_id in joined:
        a, b = left.verdicts[post_id], right.verdicts[post_id]
        identical += canonical(a) == canonical(b)
        for head in heads:
            _agree(head, post_id, a, b, examples)
        for diff in scores:
            x, y = SCORES[diff.name](a), SCORES[diff.name](b)
            if x is not None and y is not None:
                diff.deltas.append(y - x)
                diff.post_ids.append(post_id)
    return Comparison(left, right, joined, heads, scores, identical)


def _agree(head: HeadAgreement, post_id: str, a: Verdict, b: Verdict, examples: int) -> None:
    label, detail = HEADS[head.head]
    x, y = label(a), label(b)
    if x is None and y is None:
        return
    head.compared += 1
    if x == y:
        head.agree += 1
        return
    flip = (x or NONE, y or NONE)
    head.flips[flip] += 1
    shown = head.examples.setdefault(flip, [])
    if len(shown) < examples:
        shown.append(Example(post_id, detail(a), detail(b)))
