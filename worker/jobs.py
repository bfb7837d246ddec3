"""The state of one post on its way through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.acks import Ticket
from worker.errors import FetchError
from worker.fetch import FetchedImage
from worker.intake import InputRecord
from worker.messages import Post, Relation

__all__ = ["ImageSlot", "Job", "ResolvedReference"]


@dataclass
class ImageSlot:
    """One image URL of a post: fetched, or failed with a reason."""

    url: str
    image: FetchedImage | None = None
    error: FetchError | None = None
    cached: bool = False


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
    def usable_images(self) -> list[FetchedImage]:
        return [slot.image for slot in self.images if slot.image is not None]
