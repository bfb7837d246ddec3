"""Test doubles for the pipeline's injected dependencies."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import httpx
import numpy as np
from PIL import Image

from worker.errors import ModelError, PublishError
from worker.messages import ModelIdentity
from worker.model.types import FloatArray, PostFeatures, PostScores

IDENTITY = ModelIdentity(
    text_encoder="fake-text",
    image_encoder="fake-image",
    clip="fake-clip",
    heads="untrained",
    weights_sha256="0" * 64,
    components={"fake": "0" * 64},
)


class FakeScorer:
    """Deterministic scores from the features; records what it was asked to encode."""

    identity = IDENTITY
    encoder_ids: ClassVar[dict[str, str]] = {
        "text": "t1",
        "image": "i1",
        "clip_text": "ct1",
        "clip_image": "ci1",
    }

    def __init__(self, fail_on_text: str | None = None) -> None:
        self.encoded_texts: list[str] = []
        self.encoded_images = 0
        self.scored: list[PostFeatures] = []
        self.fail_on_text = fail_on_text
        #: Each text tokenized, with the thread that did it.
        self.tokenized: list[tuple[str, str]] = []
        self._vocabulary: dict[str, int] = {}
        self._texts: dict[tuple[int, ...], str] = {}

    def tokenize(self, text: str) -> tuple[int, ...]:
        """One id per word plus two specials; the text is remembered under its ids."""
        ids = (1, *(self._vocabulary.setdefault(word, len(self._vocabulary) + 3) for word in text.split()), 2)
        self._texts[ids] = text
        self.tokenized.append((text, threading.current_thread().name))
        return ids

    def encode_texts(self, texts: Sequence[str]) -> FloatArray:
        if self.fail_on_text is not None and self.fail_on_text in texts:
            raise ModelError("fake model failure")
        self.encoded_texts.extend(texts)
        return np.array([[len(t) % 7, 1.0] for t in texts], dtype=np.float32)

    def encode_token_ids(self, token_ids: Sequence[Sequence[int]]) -> FloatArray:
        return self.encode_texts([self._texts[tuple(ids)] for ids in token_ids])

    def encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        self.encoded_images += len(images)
        return np.array([[im.width % 5, 1.0] for im in images], dtype=np.float32)

    def clip_encode_texts(self, texts: Sequence[str]) -> FloatArray:
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)

    def clip_encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        return np.ones((len(images), 2), dtype=np.float32) / np.sqrt(2)

    def classify(self, kind: str, inputs: Sequence[object]) -> FloatArray:
        raise ModelError(f"the fake has no classifier {kind!r}")

    def score(self, posts: Sequence[PostFeatures]) -> list[PostScores]:
        self.scored.extend(posts)
        out = []
        for post in posts:
            base = 0.1 if post.text is None else float(post.text[0]) / 10
            per_image = [min(1.0, base + float(v[0]) / 10) for v in post.images]
            entail = None
            if post.reference is not None:
                entail = (0.7, 0.2, 0.1)
            out.append(
                PostScores(
                    bias_score=max(per_image, default=base),
                    bias_image_scores=per_image,
                    entailment=entail,
                    clip_similarity=[1.0] * len(post.clip_images),
                    clip_zero_shot={"weapons": 0.6, "an ordinary everyday photo": 0.4}
                    if post.clip_images
                    else None,
                )
            )
        return out


@dataclass
class FakePublisher:
    """Collects what would be published; can fail the first N sends, and refuse
    every send to some topics for good (as a broker refuses a record too large)."""

    fail_first: int = 0
    refuse: tuple[str, ...] = ()
    sent: list[tuple[str, bytes | None, dict[str, object]]] = field(default_factory=list)
    attempts: int = 0

    async def send(self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes]) -> None:
        await asyncio.sleep(0)
        self.attempts += 1
        if topic in self.refuse:
            raise PublishError(f"publishing to {topic!r} failed: MessageSizeTooLargeError", retriable=False)
        if self.fail_first > 0:
            self.fail_first -= 1
            raise PublishError("broker unavailable")
        self.sent.append((topic, key, json.loads(value)))

    def on(self, topic: str) -> list[dict[str, object]]:
        return [value for t, _, value in self.sent if t == topic]


def png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_transport() -> httpx.MockTransport:
    """``/ok/<w>x<h>.png`` serves a PNG, ``/missing`` is a 404, anything else 500."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/ok/"):
            w, h = path.removeprefix("/ok/").removesuffix(".png").split("x")
            return httpx.Response(200, content=png(int(w), int(h)), headers={"content-type": "image/png"})
        if path == "/missing":
            return httpx.Response(404)
        return httpx.Response(500)

    return httpx.MockTransport(handler)
