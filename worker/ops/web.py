"""The worker's HTTP endpoints, served by faust's web server on ``MODERATION_WEB_PORT``:
``/metrics`` (Prometheus), ``/healthz`` (liveness) and ``/readyz`` (readiness).

Example::

    add_endpoints(app, pipeline.stats, health)
    # curl http://127.0.0.1:6066/readyz
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.ops.health import Health
from worker.ops.metrics import PipelineStats

__all__ = ["add_endpoints"]


def add_endpoints(app: Any, stats: PipelineStats, health: Health) -> None:
    async def metrics(self: Any, request: Any) -> Any:
        body = generate_latest(stats.registry)
        return self.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def healthz(self: Any, request: Any) -> Any:
        # Answering at all proves the event loop (and so the consumer's heartbeats) runs.
        return self.json({"alive": True})

    async def readyz(self: Any, request: Any) -> Any:
        return self.json(health.snapshot(), status=200 if health.ready else 503)

    for path, handler in (("/metrics", metrics), ("/healthz", healthz), ("/readyz", readyz)):
        handler.__name__ = path.strip("/")
        app.page(path)(handler)
