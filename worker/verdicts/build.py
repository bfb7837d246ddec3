"""Where scores become verdicts: labels, flags and their reasons. Pure, no I/O.

Example::

    verdict = build_verdict(job, scores, identity, settings, timings, now)
"""

from __future__ import annotations

from datetime import datetime

from worker.config.settings import Settings
from worker.inference.jobs import ImageSlot, Job, ResolvedReference
from worker.messages import (
    BiasResult,
    ClipResult,
    EntailmentResult,
    ErrorInfo,
    ImageOutcome,
    Modality,
    ModelIdentity,
    Timings,
    Verdict,
)
from worker.model.types import PostScores
from worker.names import ENTAILMENT_LABELS

__all__ = ["build_verdict", "error_info", "image_outcome"]


def error_info(exc: BaseException) -> ErrorInfo:
    """Describe an error for a verdict or a dead letter."""
    return ErrorInfo(
        type=type(exc).__name__,
        kind=str(getattr(exc, "kind", "error")),
        message=str(exc)[:1000],
        retriable=bool(getattr(exc, "retriable", False)),
    )


def image_outcome(slot: ImageSlot) -> ImageOutcome:
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
        )
    if slot.image is None:
        error = slot.error if slot.error is not None else RuntimeError("image was not fetched")
        return ImageOutcome(url=slot.url, status="error", error=error_info(error))
    image = slot.image
    return ImageOutcome(
        url=slot.url,
        status="ok",
        content_sha256=image.content_sha256,
        bytes=len(image.content),
        width=image.width,
        height=image.height,
        format=image.format,
        cached=slot.cached,
        fetch_ms=round(image.fetch_ms, 3),
    )


def _modalities(text: str, images: list[ImageSlot]) -> list[Modality]:
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


_ENCODERS: dict[Modality, str] = {"text": "text_encoder", "image": "image_encoder"}


def _trained(head: str, modalities: list[Modality], untrained: list[str]) -> bool:
    """A head decides only when it and the encoders it read were trained."""
    return not {head, *(_ENCODERS[m] for m in modalities)} & set(untrained)


def _flags(
    bias: BiasResult,
    entailment: EntailmentResult | None,
    clip: ClipResult | None,
    s: Settings,
    used: tuple[list[Modality], list[str]],
) -> list[str]:
    modalities, untrained = used
    reasons = []
    if bias.label == "biased" and _trained("bias_head", modalities, untrained):
        reasons.append(f"bias score {bias.score:.3f} >= {bias.threshold}")
    if entailment is not None and entailment.probabilities is not None:
        p = entailment.probabilities["Contradictory"]
        both = sorted({*modalities, *entailment.modalities})
        if p >= s.contradiction_threshold and _trained("entailment_head", both, untrained):
            reasons.append(f"contradicts {entailment.reference_id}: p={p:.3f}")
    if clip is not None and "clip" not in untrained:
        for label in s.clip_flag_labels:
            p = clip.zero_shot.get(label, 0.0)
            if p >= s.clip_flag_threshold:
                reasons.append(f"image looks like '{label}': p={p:.3f}")
    return reasons


def build_verdict(
    job: Job,
    scores: PostScores,
    identity: ModelIdentity,
    settings: Settings,
    timings: Timings,
    now: datetime,
) -> Verdict:
    """Turn one post's scores into its verdict."""
    score = min(1.0, max(0.0, scores.bias_score))
    bias = BiasResult(
        score=round(score, 6),
        label="biased" if score >= settings.bias_threshold else "unbiased",
        threshold=settings.bias_threshold,
        image_scores=[round(s, 6) for s in scores.bias_image_scores],
    )
    entailment = None
    if job.reference is not None:
        entailment = _entailment(job.reference, scores.entailment)
    clip = _clip(scores)
    modalities = _modalities(job.post.text, job.images)
    reasons = _flags(bias, entailment, clip, settings, (modalities, identity.untrained))
    return Verdict(
        post_id=job.post.id,
        model=identity,
        modalities=modalities,
        bias=bias,
        entailment=entailment,
        clip=clip,
        flagged=bool(reasons),
        flag_reasons=reasons,
        images=[image_outcome(slot) for slot in job.images],
        degraded=sorted(job.degraded),
        source=job.record.source,
        timings=timings,
        produced_at=now,
    )
