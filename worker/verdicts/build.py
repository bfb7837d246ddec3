"""Where scores become verdicts: labels, flags and their reasons. Pure, no I/O.

Example::

    verdict = build_verdict(scored, identity, settings, timings, now)
"""

from __future__ import annotations

from datetime import datetime

from worker.config.settings import Settings
from worker.errors import RefusedURL
from worker.fetch.refusals import shown_url
from worker.inference.jobs import ImageSlot, Prepared, ResolvedReference, Scored
from worker.inference.windows import TEXT_BEYOND_BOUND, TextWindows
from worker.messages import (
    MAX_LISTED_IMAGES,
    BiasResult,
    ClipResult,
    EntailmentResult,
    ErrorInfo,
    ImageOutcome,
    ImageStatus,
    KnownMatch,
    Modality,
    ModelIdentity,
    PerceptualHash,
    TextCoverage,
    TextSpan,
    Timings,
    Verdict,
)
from worker.model.categories import KNOWN_PREFIX, CategoryScore, builtin_categories
from worker.model.types import PostScores
from worker.model.untrained import HEAD_PARTS
from worker.names import ENTAILMENT_LABELS
from worker.verdicts.policy import Policy

__all__ = ["build_verdict", "coverage", "degraded_parts", "error_info", "image_outcome", "known_categories"]

BIAS_PART = HEAD_PARTS["bias"]
#: ``degraded`` entry of a malformed optional field of the post, ignored: ``field_ignored:NAME``.
FIELD_IGNORED = "field_ignored:"


def error_info(exc: BaseException) -> ErrorInfo:
    """Describe an error for a verdict or a dead letter."""
    return ErrorInfo(
        type=type(exc).__name__,
        kind=str(getattr(exc, "kind", "error")),
        message=str(exc)[:1000],
        retriable=bool(getattr(exc, "retriable", False)),
    )


def _known_fields(slot: ImageSlot) -> dict[str, object]:
    """The PDQ hash and bank matches of an image, as verdict fields."""
    if slot.pdq is None:
        return {}
    matches = [
        KnownMatch(bank=m.bank, distance=m.distance, category=m.category, action=m.action) for m in slot.known
    ]
    return {
        "pdq": PerceptualHash(hash=slot.pdq.hex, quality=slot.pdq.quality),
        "known_matches": matches or None,
    }


def _match_note(bank: str, distance: int) -> str:
    return f"matches known content: {bank}, distance {distance}"


def known_categories(images: tuple[ImageSlot, ...]) -> dict[str, CategoryScore]:
    """A category per hash bank any image matched (``known:BANK``), scored 1.0: a match is a
    decision the bank's owners made, not a model's guess; the policy may still only score it."""
    nearest: dict[str, int] = {}
    for slot in images:
        for match in slot.known:
            nearest[match.bank] = min(match.distance, nearest.get(match.bank, match.distance))
    return {
        KNOWN_PREFIX + bank: CategoryScore(
            1.0, ("image",), (), f"matches known content: {bank}, distance {d}"
        )
        for bank, d in nearest.items()
    }


def _listed(index: int, slot: ImageSlot) -> bool:
    """Every image fetched or tried is listed; URLs refused unfetched only among the first
    ``MAX_LISTED_IMAGES`` (a post of a thousand URLs gets a verdict of readable size)."""
    return index < MAX_LISTED_IMAGES or not isinstance(slot.error, RefusedURL)


def degraded_parts(
    parts: frozenset[str], images: list[ImageOutcome], text: TextWindows, ignored_fields: tuple[str, ...] = ()
) -> list[str]:
    """What the verdict was made without: the parts that failed, each image not used
    (``image:INDEX:KIND``), ``text_beyond_bound`` when the text was not read to its end,
    and each malformed optional field of the post (``field_ignored:NAME``)."""
    named = {f"image:{image.index}:{image.error.kind}" for image in images if image.error is not None}
    named |= {f"{FIELD_IGNORED}{name}" for name in ignored_fields}
    if text.unscored is not None:
        named.add(TEXT_BEYOND_BOUND)
    return sorted(parts | named)


def coverage(text: TextWindows, deciding: dict[str, int]) -> TextCoverage:
    """How the post's text was read, for the verdict."""
    unscored = text.unscored
    return TextCoverage(
        chars=text.chars,
        window_chars=text.window_chars,
        bound_chars=text.bound_chars,
        windows=[TextSpan(start=start, end=end) for start, end in text.spans],
        deciding_windows=dict(sorted(deciding.items())) if len(text.spans) > 1 else {},
        unscored=TextSpan(start=unscored[0], end=unscored[1]) if unscored is not None else None,
    )


def image_outcome(slot: ImageSlot, cached: bool) -> ImageOutcome:
    if slot.image is None and slot.memo is not None:
        memo = slot.memo  # not fetched: the URL's content and embeddings were known
        return ImageOutcome(
            url=slot.url,
            status="ok",
            content_sha256=memo.content_sha256,
            bytes=memo.bytes,
            width=memo.width,
            height=memo.height,
            format=memo.format,
            cached=True,
            **_known_fields(slot),
        )
    if slot.image is None:
        error = slot.error if slot.error is not None else RuntimeError("image was not fetched")
        status: ImageStatus = "refused" if isinstance(error, RefusedURL) else "error"
        return ImageOutcome(url=shown_url(slot.url), status=status, error=error_info(error))
    image = slot.image
    return ImageOutcome(
        url=slot.url,
        status="ok",
        content_sha256=image.content_sha256,
        bytes=len(image.content),
        width=image.width,
        height=image.height,
        format=image.format,
        cached=cached,
        fetch_ms=round(image.fetch_ms, 3),
        **_known_fields(slot),
    )


def _from_cache(slot: ImageSlot, scored: Scored) -> bool:
    return slot.usable and slot.content_sha256 in scored.cached_images


def _modalities(text: str, images: tuple[ImageSlot, ...]) -> list[Modality]:
    used: list[Modality] = []
    if text.strip():
        used.append("text")
    if any(slot.usable for slot in images):
        used.append("image")
    return used


def _entailment(ref: ResolvedReference, probs: tuple[float, ...] | None) -> EntailmentResult:
    if ref.unavailable is not None or probs is None:
        return EntailmentResult(
            reference_id=ref.id,
            relation=ref.relation,
            status="reference_unavailable",
            modalities=[],
            detail=ref.unavailable or "reference has neither usable text nor images",
        )
    probabilities = dict(zip(ENTAILMENT_LABELS, (round(p, 6) for p in probs), strict=True))
    label = max(probabilities, key=probabilities.__getitem__)
    return EntailmentResult(
        reference_id=ref.id,
        relation=ref.relation,
        status="scored",
        label=label,
        probabilities=probabilities,
        modalities=_modalities(ref.text, ref.images),
    )


def _clip(scores: PostScores) -> ClipResult | None:
    if not scores.clip_similarity or scores.clip_zero_shot is None:
        return None
    zero_shot = {label: round(p, 6) for label, p in scores.clip_zero_shot.items()}
    return ClipResult(
        image_text_similarity=[round(s, 6) for s in scores.clip_similarity],
        max_similarity=round(max(scores.clip_similarity), 6),
        zero_shot=zero_shot,
        top_label=max(zero_shot, key=zero_shot.__getitem__),
    )


def _categories(
    job: Prepared, scores: PostScores, modalities: list[Modality], entailment: EntailmentResult | None
) -> dict[str, CategoryScore]:
    ref_modalities = entailment.modalities if entailment is not None else []
    ref_id = entailment.reference_id if entailment is not None else None
    found = builtin_categories(scores, modalities, ref_modalities, ref_id)
    return {**found, **scores.categories, **known_categories(job.images)}


def build_verdict(
    scored: Scored,
    identity: ModelIdentity,
    settings: Settings,
    timings: Timings,
    now: datetime,
) -> Verdict:
    """Turn one post's scores into its verdict; the policy decides the flags."""
    job, scores = scored.prepared, scored.scores
    policy = Policy.from_settings(settings)
    score = min(1.0, max(0.0, scores.bias_score))
    threshold = policy.rule("bias").threshold
    # Random weights give numbers, not answers: no label a consumer could act on.
    untrained = BIAS_PART in identity.untrained
    # A text-only bias model (train bias --fine-tune) answers "bias" as an added classifier:
    # its score decides the category, the fused head's score stays beside it.
    text_model = scores.categories.get("bias")
    bias = BiasResult(
        score=round(score, 6),
        label=None if untrained else "biased" if score >= threshold else "unbiased",
        untrained=untrained,
        threshold=threshold,
        image_scores=[round(s, 6) for s in scores.bias_image_scores],
        text_score=round(text_model.score, 6) if text_model is not None else None,
        decided_by=text_model.parts[0] if text_model is not None else BIAS_PART,
    )
    entailment = None
    if job.reference is not None:
        entailment = _entailment(job.reference, scores.entailment)
    modalities = _modalities(job.post.text, job.images)
    images = [
        image_outcome(slot, _from_cache(slot, scored)).model_copy(update={"index": n})
        for n, slot in enumerate(job.images)
        if _listed(n, slot)
    ]
    decision = policy.decide(_categories(job, scores, modalities, entailment), identity.untrained)
    return Verdict(
        post_id=job.post.id,
        model=identity,
        modalities=modalities,
        bias=bias,
        entailment=entailment,
        clip=_clip(scores),
        flagged=bool(decision.reasons),
        flag_reasons=decision.reasons,
        categories=decision.flagged,
        category_scores=decision.scores,
        category_applied_input_types=decision.applied,
        untrained_categories=decision.untrained,
        text=coverage(job.text_windows, scores.deciding_windows) if job.post.text.strip() else None,
        images=images,
        images_not_listed=len(job.images) - len(images),
        degraded=degraded_parts(scored.degraded, images, job.text_windows, job.received.ignored_fields),
        source=job.received.record.source,
        timings=timings,
        produced_at=now,
    )
