"""The one exception tree of the worker.

Every error the worker raises on purpose derives from :class:`ModerationError`.
Third-party exceptions (httpx, aiokafka, redis, torch, Pillow) are translated at
the adapter module that calls the library, with ``raise Ours(...) from exc``, so
nothing foreign leaks into the pipeline.

::

    ModerationError
    ├── InvalidPost            the message can never be processed (dead letter)
    │   ├── InvalidJSON        not UTF-8 JSON
    │   ├── TooDeeplyNested    JSON nested deeper than the parser reads (200 levels)
    │   ├── SchemaViolation    JSON, but not a valid post
    │   ├── OversizeMessage    larger than the configured limit
    │   └── UnusableContent    no text, and none of its images could be used
    ├── FetchError             one image could not be used (recorded per image)
    │   ├── BlockedURL         refused by the URL policy, never requested
    │   ├── RefusedURL         not fetched at all, reported in the verdict
    │   │   ├── MalformedURL       not a URL the worker can read
    │   │   ├── UnsupportedScheme  file:, data:, javascript:... (only http(s) is fetched)
    │   │   └── OverImageLimit     beyond the first four fetchable URLs of a post
    │   ├── FetchTimeout       connect/read/total deadline passed      (retriable)
    │   ├── HostUnreachable    DNS or connection failure               (retriable)
    │   ├── HTTPStatusError    the server answered with an error status
    │   ├── ResponseTooLarge   body over the size cap
    │   └── NotAnImage         bytes Pillow refuses, or a format not allowed
    ├── ModelError             loading or running a model failed
    │   └── CheckpointError    a checkpoint does not fit the architecture
    ├── CacheError             Redis unreachable or misbehaving          (retriable)
    ├── PublishError           the broker did not acknowledge a record  (retriable unless
    │                          its cause says retrying cannot help: a record too large,
    │                          an authorization error)
    └── ConfigError            a setting cannot be applied with the installed libraries
        └── BankError          a hash bank's manifest or file cannot be read

The class decides the fate of the work: ``retriable`` tells the pipeline to try
again (or run degraded), otherwise the input is dead-lettered or the image is
recorded as failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "BankError",
    "BlockedURL",
    "CacheError",
    "CheckpointError",
    "ConfigError",
    "FetchError",
    "FetchTimeout",
    "HTTPStatusError",
    "HostUnreachable",
    "InvalidJSON",
    "InvalidPost",
    "MalformedURL",
    "ModelError",
    "ModerationError",
    "NotAnImage",
    "OverImageLimit",
    "OversizeMessage",
    "PublishError",
    "RefusedURL",
    "ResponseTooLarge",
    "SchemaViolation",
    "TooDeeplyNested",
    "UnsupportedScheme",
    "UnusableContent",
    "validation_problems",
]


class ModerationError(Exception):
    """Root of every error the worker raises on purpose."""

    retriable: bool = False
    #: Short machine-readable reason, used in dead letters, verdicts and metrics.
    kind: str = "error"

    @property
    def type_name(self) -> str:
        return type(self).__name__


class InvalidPost(ModerationError):
    kind = "invalid_post"


class InvalidJSON(InvalidPost):
    kind = "invalid_json"


class TooDeeplyNested(InvalidPost):
    kind = "too_deep"


class SchemaViolation(InvalidPost):
    kind = "schema_violation"


class OversizeMessage(InvalidPost):
    kind = "oversize"


class UnusableContent(InvalidPost):
    """An image-only post none of whose images could be used. Retriable when an image
    failed for a reason that may pass (a timeout, an unreachable host, a 5xx)."""

    kind = "no_usable_content"

    def __init__(self, message: str, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class FetchError(ModerationError):
    kind = "fetch_error"


class BlockedURL(FetchError):
    kind = "blocked_url"


class RefusedURL(FetchError):
    """An image URL the worker does not fetch; the post is moderated without it."""

    kind = "refused_url"


class MalformedURL(RefusedURL):
    kind = "malformed_url"


class UnsupportedScheme(RefusedURL):
    kind = "unsupported_scheme"


class OverImageLimit(RefusedURL):
    kind = "over_image_limit"


class FetchTimeout(FetchError):
    kind = "timeout"
    retriable = True


class HostUnreachable(FetchError):
    kind = "unreachable"
    retriable = True


class HTTPStatusError(FetchError):
    kind = "http_status"

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        # A 5xx or 429 may succeed later; a 4xx will not.
        self.retriable = status_code >= 500 or status_code == 429


class ResponseTooLarge(FetchError):
    kind = "too_large"


class NotAnImage(FetchError):
    kind = "not_an_image"


class ModelError(ModerationError):
    kind = "model_error"


class CheckpointError(ModelError):
    kind = "checkpoint_error"


class CacheError(ModerationError):
    kind = "cache_error"
    retriable = True


class PublishError(ModerationError):
    """Retriable unless the broker's answer says trying again cannot succeed: then the
    verdict is dead-lettered, or the worker stops if the dead-letter topic refuses too."""

    kind = "publish_error"

    def __init__(self, message: str, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class ConfigError(ModerationError):
    kind = "config_error"


class BankError(ConfigError):
    """A hash bank cannot be loaded; the worker keeps the banks it had (on reload) or
    refuses to start (at start-up) rather than run with a bank silently missing."""

    kind = "bank_error"


def validation_problems(exc: ValidationError) -> str:
    """A pydantic validation error in one line: ``field.sub: message; ...``."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
