"""The state of one post on its way through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.consume.intake import InputRecord
from worker.errors import FetchError
from worker.fetch.client import FetchedImage
from worker.inference.cache import ImageMeta
from worker.known.matcher import BankMatch
from worker.known.pdq import PdqHash
from worker.messages import Post, Relation
from worker.model.types import FloatArray
from worker.verdicts.acks import Ticket

__all__ = ["ImageSlot", "Job", "ResolvedReference"]


@dataclass
class ImageSlot:
    """One image URL of a post: fetched, known from the cache, or failed with a reason.

    ``memo`` + ``vectors``: the URL served this content before and every embedding the
    post needs of it is cached, so it was neither fetched nor decoded.
    """

    url: str
    image: FetchedImage | None = None
    error: FetchError | None = None
    cached: bool = False
    memo: ImageMeta | None = None
    vectors: dict[str, FloatArray] = field(default_factory=dict)
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


@dataclass
class ResolvedReference:
    """The referenced post, once its text and images are known (or why not)."""

    id: str
    relation: Relation
    text: str = ""
    images: list[ImageSlot] = field(default_factory=list)
    unavailable: str | None = None


@dataclass(eq=False)
class Job:
    """A valid post with everything the pipeline learns about it."""

    record: InputRecord
    post: Post
    ticket: Ticket
    arrived: float
    tokens: int = 1
    images: list[ImageSlot] = field(default_factory=list)
    reference: ResolvedReference | None = None
    fetch_ms: float = 0.0
    degraded: set[str] = field(default_factory=set)

    @property
    def usable_images(self) -> list[ImageSlot]:
        return [slot for slot in self.images if slot.usable]
