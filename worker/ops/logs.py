"""Structured logs: one JSON object per line, with the post id and source coordinates
where there is one. Never secrets, never message bodies (a post's text stays out of
info-level logs; dead letters carry the bytes instead).

Example::

    configure_logging("info", "json")
    log.info("dead letter", extra={"post_id": "p1", "topic": "posts", "partition": 0, "offset": 7})
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["CONTEXT_FIELDS", "JsonFormatter", "Throttle", "cache_warnings", "configure_logging"]

#: ``extra=`` keys copied into every JSON line that has them.
CONTEXT_FIELDS = ("post_id", "topic", "partition", "offset", "error", "kind", "batch_size")


class Throttle:
    """Lets one warning per key through every ``interval_s``; the next one that passes
    says how many were held back. A Redis outage otherwise writes a warning for every
    post, thousands a minute, burying everything else in the log.

    Example::

        throttle.warning(log, "cache-lookup", "embedding cache unavailable: %s", exc)
    """

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # key -> (last logged at, held back since)

    def warning(self, logger: logging.Logger, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``interval_s`` ago;
        True when it was logged."""
        now = self._clock()
        with self._lock:
            last, held = self._last.get(key, (None, 0))
            if last is not None and now - last < self.interval_s:
                self._last[key] = (last, held + 1)
                return False
            self._last[key] = (now, 0)
        if held and last is not None:
            msg += " (%d more like this in the last %.0f s)"
            args = (*args, held, now - last)
        logger.warning(msg, *args)
        return True


#: Warnings about the cache (Redis), which fail once per post while it is down.
cache_warnings = Throttle(60.0)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: str) -> None:
    """Route all logging (ours, faust's, aiokafka's) to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # These libraries are chatty at info level; their warnings still come through.
    for name in ("aiokafka", "faust", "mode", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
