"""A second embedded Kafka-protocol broker: noida-db, which has transactions.

``noida-db`` (PyPI, MIT) carries a Rust binary that emulates several servers, Kafka
among them. Unlike Tansu it implements the idempotent producer, transactions,
``read_committed`` readers, ``send_offsets_to_transaction`` and ``offsets_for_times``,
so the worker's exactly-once mode and the standard Kafka calls of replay can be tested
on it. Its data lives in ``--data-dir``; each broker object starts from an empty one,
which survives a :meth:`NoidaBroker.stop` / :meth:`~NoidaBroker.start` pair, as a real
broker's log does across a restart.

The binary is started directly, not through the package's ``noida-db`` console
script: that script runs the binary as a child, so stopping the script could leave
the broker running.

Known gaps: it does not abort a transaction that outlives ``transaction.timeout.ms``
(Apache Kafka does); and it never evicts a group member that died without leaving
(a SIGKILLed worker): the next join hangs, so fault tests bring the successor back
under the victim's static membership (``MODERATION_GROUP_INSTANCE_ID``), as a
Kubernetes StatefulSet would.

Example::

    with NoidaBroker(workdir) as broker:
        settings = Settings(broker=broker.url)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
from pathlib import Path

from moderation_lab.embedded.broker import kafka_answers
from moderation_lab.embedded.ports import LOOPBACK, port_accepts
from moderation_lab.embedded.service import LocalService
from moderation_lab.errors import ServiceError

__all__ = ["NoidaBroker", "find_noida", "noida_group_overrides"]

_INSTALL_HINT = "install the lab's dependencies: pip install -e ./lab (noida-db)"


def find_noida() -> Path:
    """Path of the ``noida-db`` binary inside the installed noida-db package."""
    spec = importlib.util.find_spec("noida_db")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"noida-db is not installed; {_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "noida-db"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                # The wheel does not keep the mode; the package's own wrapper sets it too.
                binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            return binary
    raise ServiceError(f"noida-db has no binary for this platform; {_INSTALL_HINT}")


def noida_group_overrides() -> dict[str, str]:
    """``MODERATION_*`` overrides for tests on noida-db: a shorter session timeout.

    Not a workaround for the broker (it joins a group in ~0.3 s), but for the fault
    tests: after a SIGKILL the group waits out the dead member's session timeout before
    its partitions move, 30 s with the production default.
    """
    from worker.config.settings import Settings

    return {
        Settings.env_name("session_timeout_s"): "6",
        Settings.env_name("heartbeat_interval_s"): "0.5",
        Settings.env_name("rebalance_timeout_s"): "10",
    }


class NoidaBroker(LocalService):
    """noida-db's Kafka on a free loopback port, data in ``workdir/data``."""

    name = "noida"
    kind = "noida"
    #: Transactions, idempotent producer, read_committed: yes.
    transactions = True
    #: No: a member that died without leaving stays in the group (as its leader), and
    #: every later join hangs. A successor must come back under the dead worker's
    #: static membership (``group_instance_id``), which replaces it at once.
    evicts_dead_members = False
    #: Its log, topics and committed offsets survive a restart.
    keeps_data = True
    poll_interval_s = 0.02

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        binary: Path | None = None,
        start_timeout_s: float = 15.0,
        stop_timeout_s: float = 8.0,
    ) -> None:
        super().__init__(workdir, start_timeout_s=start_timeout_s, stop_timeout_s=stop_timeout_s)
        self._binary = binary
        self.data_dir = self.workdir / "data"
        # A fresh log per broker object; a restart of the same object keeps it.
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def worker_overrides(self) -> dict[str, str]:
        return noida_group_overrides()

    def _argv(self, port: int) -> list[str]:
        binary = self._binary or find_noida()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(binary),
            "start",
            "--data-dir",
            str(self.data_dir),
            "--host",
            LOOPBACK,
            "--only",
            "kafka",
            "--kafka-port",
            str(port),
        ]

    def _answers(self, port: int) -> bool:
        return port_accepts(LOOPBACK, port) and kafka_answers(LOOPBACK, port)

    def _url(self, port: int) -> str:
        return f"kafka://{LOOPBACK}:{port}"
