"""Names that other systems see, kept in one place.

Topic names are defaults (each is a setting). Redis keys carry a layout version
and, for embeddings, the identity of the encoder that produced them, so a new
model can never be served an old model's embedding.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEAD_LETTER_SCHEMA_VERSION",
    "DEFAULT_DLQ_TOPIC",
    "DEFAULT_FLAGGED_TOPIC",
    "DEFAULT_POSTS_TOPIC",
    "DEFAULT_VERDICTS_TOPIC",
    "ENTAILMENT_LABELS",
    "POST_SCHEMA_VERSION",
    "REDIS_KEY_VERSION",
    "VERDICT_SCHEMA_VERSION",
    "embedding_key",
    "image_url_key",
    "pdq_key",
    "post_key",
]

DEFAULT_POSTS_TOPIC: Final = "posts"
DEFAULT_VERDICTS_TOPIC: Final = "verdicts"
DEFAULT_FLAGGED_TOPIC: Final = "verdicts.flagged"
DEFAULT_DLQ_TOPIC: Final = "posts.dlq"

POST_SCHEMA_VERSION: Final = 2
VERDICT_SCHEMA_VERSION: Final = 3
DEAD_LETTER_SCHEMA_VERSION: Final = 1

#: Order of the entailment head's outputs (the entailment reference's label map).
ENTAILMENT_LABELS: Final = ("Contradictory", "Implies", "NoEntailment")

#: Bump when the layout of any Redis value changes.
REDIS_KEY_VERSION: Final = "v1"


def embedding_key(prefix: str, kind: str, encoder_id: str, content_sha256: str) -> str:
    """Key of one cached encoder output.

    ``kind`` names the encoder output (``text``, ``image``, ``clip_text``, ``clip_image``);
    ``encoder_id`` is the short hash of that encoder's weights and preprocessing.
    """
    return f"{prefix}:{REDIS_KEY_VERSION}:emb:{kind}:{encoder_id}:{content_sha256}"


def image_url_key(prefix: str, url_sha256: str) -> str:
    """Key of what an image URL served last time (content hash, size, format)."""
    return f"{prefix}:{REDIS_KEY_VERSION}:img:{url_sha256}"


def post_key(prefix: str, post_id: str) -> str:
    """Key of a post the worker has seen, so later posts can reference it by id."""
    return f"{prefix}:{REDIS_KEY_VERSION}:post:{post_id}"


def pdq_key(prefix: str, algorithm: str, content_sha256: str) -> str:
    """Key of an image's perceptual hash (``algorithm`` names its version, e.g. ``pdq1``)."""
    return f"{prefix}:{REDIS_KEY_VERSION}:hash:{algorithm}:{content_sha256}"
