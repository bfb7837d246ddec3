"""Policy categories: named scores in [0, 1], each with the modalities and parts behind it.

Every head and classifier answers in categories: the bias head as ``bias``, the
entailment head as ``contradiction`` (the probability that a post contradicts the post
it refers to), CLIP's zero-shot labels as ``clip:<label>``, and every added classifier
under the category names its labels map to. The policy
(:mod:`worker.verdicts.policy`) decides which of them flag a post.

Example::

    found = builtin_categories(scores, ["text", "image"], reference_modalities=["text"])
    found["bias"].score          # 0.73
    found["bias"].parts          # ('bias_head', 'text_encoder', 'image_encoder')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from worker.model.types import PostScores

__all__ = [
    "BUILTIN",
    "CLIP_PREFIX",
    "KNOWN_PREFIX",
    "CategoryScore",
    "Modality",
    "builtin_categories",
    "encoder_parts",
]

Modality = Literal["text", "image"]

#: The categories every model answers; CLIP adds ``clip:<label>`` per zero-shot label.
BUILTIN: Final = ("bias", "contradiction")
CLIP_PREFIX: Final = "clip:"
#: Categories of hash-bank matches, one per bank: ``known:BANK`` (worker.known).
KNOWN_PREFIX: Final = "known:"

_ENCODERS: dict[str, str] = {"text": "text_encoder", "image": "image_encoder"}


@dataclass(frozen=True)
class CategoryScore:
    """One category's answer for one post.

    ``applied``: the post's modalities the score read; ``parts``: the model parts whose
    weights produced it (a category with an untrained part never flags);
    ``detail``: a short note for the flag reason, e.g. which post was contradicted.
    """

    score: float
    applied: tuple[Modality, ...]
    parts: tuple[str, ...]
    detail: str = ""

    def __post_init__(self) -> None:
        # Clamp here so a head's rounding (1.0000001) cannot break the verdict's bounds.
        object.__setattr__(self, "score", min(1.0, max(0.0, float(self.score))))


def encoder_parts(modalities: Sequence[str]) -> tuple[str, ...]:
    """The shared encoders that read these modalities."""
    return tuple(_ENCODERS[m] for m in modalities if m in _ENCODERS)


def builtin_categories(
    scores: PostScores,
    modalities: Sequence[Modality],
    reference_modalities: Sequence[Modality] = (),
    reference_id: str | None = None,
) -> dict[str, CategoryScore]:
    """``bias``, ``contradiction`` (with a scored reference) and ``clip:*`` (with CLIP and images)."""
    applied = tuple(modalities)
    found = {"bias": CategoryScore(scores.bias_score, applied, ("bias_head", *encoder_parts(applied)))}
    if scores.entailment is not None:
        both = tuple(m for m in ("text", "image") if m in applied or m in reference_modalities)
        found["contradiction"] = CategoryScore(
            scores.entailment[0],
            both,  # type: ignore[arg-type]
            ("entailment_head", *encoder_parts(both)),
            f"contradicts {reference_id}" if reference_id else "",
        )
    for label, p in (scores.clip_zero_shot or {}).items():
        found[CLIP_PREFIX + label] = CategoryScore(p, ("image",), ("clip",))
    return found
