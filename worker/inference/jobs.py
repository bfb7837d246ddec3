"""One post's state, built stage by stage and handed on; nothing is patched after it is built.

::

    Received   the parsed post, its input record and its ack ticket      (pipeline.submit)
       │  Preparer.prepare: reference resolved, images fetched or known from the memo,
       ▼  text tokenized off the event loop
    Prepared   + images, reference, token ids, fetch time, degraded parts
       │  FeatureStage.score: cache, encoders, heads
       ▼
    Scored     + the scores, which image embeddings came from the cache, degraded parts
       │  build_verdict (once, with its timings)
       ▼
    Verdict
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from worker.consume.intake import InputRecord
from worker.errors import FetchError
from worker.fetch.client import FetchedImage
from worker.inference.cache import ImageMeta
from worker.inference.windows import TextWindows
from worker.known.matcher import BankMatch
from worker.known.pdq import PdqHash
from worker.messages import Post, Relation
from worker.model.types import FloatArray, PostScores
from worker.verdicts.acks import Ticket

__all__ = ["ImageSlot", "Prepared", "Received", "ResolvedReference", "Scored", "TokenIds"]

#: Token ids of one text, as the text encoder will see it (truncated, specials included).
TokenIds = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ImageSlot:
    """One image URL of a post: fetched, known from the memo, or failed with a reason.

    ``memo`` + ``vectors``: the URL served this content before and every embedding the
    post needs of it is cached, so it was neither fetched nor decoded.
    """

    url: str
    image: FetchedImage | None = None
    error: FetchError | None = None
    memo: ImageMeta | None = None
    vectors: Mapping[str, FloatArray] = field(default_factory=dict)
    #: The image's perceptual hash and the hash banks it matched (worker.known).
    pdq: PdqHash | None = None
    known: tuple[BankMatch, ...] = ()

    @property
    def usable(self) -> bool:
        return self.image is not None or self.memo is not None

    @property
    def content_sha256(self) -> str:
        if self.image is not None:
            return self.image.content_sha256
        if self.memo is not None:
            return self.memo.content_sha256
        raise ValueError(f"{self.url} has no content")


@dataclass(frozen=True, slots=True)
class ResolvedReference:
    """The referenced post, once its text and images are known (or why not)."""

    id: str
    relation: Relation
    text: str = ""
    images: tuple[ImageSlot, ...] = ()
    unavailable: str | None = None
    token_ids: TokenIds | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Received:
    """A valid post as it came off the topic."""

    record: InputRecord
    post: Post
    ticket: Ticket
    arrived: float
    #: Optional fields of the post that were malformed, hence ignored (consume.intake).
    ignored_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Prepared:
    """A post ready for the model: its images, its reference, its tokens."""

    received: Received
    images: tuple[ImageSlot, ...]
    reference: ResolvedReference | None
    fetch_ms: float
    #: Each window's text as token ids (None for an empty text, or a scorer that tokenizes
    #: itself), in the order of ``text_windows.spans``.
    window_tokens: tuple[TokenIds | None, ...]
    degraded: frozenset[str]
    #: Where the text is cut into the windows scored (one window for a short text).
    text_windows: TextWindows

    @property
    def post(self) -> Post:
        return self.received.post

    @property
    def window_texts(self) -> list[str]:
        """The texts scored, one per window (``[post.text]`` for a short text)."""
        return self.text_windows.texts(self.post.text)

    @property
    def token_ids(self) -> TokenIds | None:
        """The first window's token ids (the whole text's, for a short text)."""
        return self.window_tokens[0] if self.window_tokens else None

    @property
    def tokens(self) -> int:
        """What the post costs in a batch's token budget: every window's tokens."""
        return max(1, sum(len(ids) for ids in self.window_tokens if ids))

    @property
    def usable_images(self) -> list[ImageSlot]:
        return [slot for slot in self.images if slot.usable]


@dataclass(frozen=True, slots=True, eq=False)
class Scored:
    """A prepared post with its scores, as one batch's model run left it."""

    prepared: Prepared
    scores: PostScores
    #: Content hashes of this post's images whose embedding came from the cache.
    cached_images: frozenset[str]
    degraded: frozenset[str]
