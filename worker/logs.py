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
from datetime import UTC, datetime

__all__ = ["CONTEXT_FIELDS", "JsonFormatter", "configure_logging"]

#: ``extra=`` keys copied into every JSON line that has them.
CONTEXT_FIELDS = ("post_id", "topic", "partition", "offset", "error", "kind", "batch_size")


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
