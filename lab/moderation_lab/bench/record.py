"""The results file, written as the run goes: after every phase, and once more with the
reason when the run is stopped (SIGINT, SIGTERM) or a phase fails, so that what was
measured is never lost. The file says whether it is complete, which phases it holds,
and where and why it stopped.

Written to a temporary name and renamed, so a reader never sees half a file.

Example::

    record = Record(Path("bench-results.json"), results)
    with stop_on_signals():
        ...
        record.save(phases_done=["backend table"])
"""

from __future__ import annotations

import json
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from moderation_lab.bench.progress import Progress

__all__ = ["Record", "Stopped", "recorded_phase", "run_recorded", "stop_on_signals"]


class Stopped(BaseException):
    """The run was asked to stop by a signal. A BaseException, like KeyboardInterrupt,
    so that no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextmanager
def stop_on_signals(signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`Stopped` in the main thread while inside."""
    before = {signum: signal.signal(signum, _raise_stopped) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


@dataclass
class Record:
    path: Path
    results: dict[str, Any]

    def save(self, phases_done: Sequence[str], *, complete: bool = False, **state: Any) -> None:
        """Write the results with the run's state (``stopped_in``, ``reason``, ...)."""
        run = {"complete": complete, "phases_done": list(phases_done), **state}
        body = {**self.results, "run": run}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True, default=_plain) + "\n")
        tmp.replace(self.path)

    def save_stopped(self, phases_done: Sequence[str], phase: str | None, exc: BaseException) -> str:
        """Write what was measured with why the run ended early; returns that reason."""
        if isinstance(exc, Stopped):
            reason = f"stopped by {exc.signal_name}"
        elif isinstance(exc, KeyboardInterrupt):
            reason = "stopped by SIGINT"
        else:
            reason = f"failed: {type(exc).__name__}: {exc}"
        details = (
            "".join(traceback.format_exception(exc))
            if not isinstance(exc, (Stopped, KeyboardInterrupt))
            else None
        )
        self.save(phases_done, stopped_in=phase, reason=reason, traceback=details)
        return reason


def recorded_phase(
    progress: Progress, record: Record, name: str, size: str, work: Callable[[], object]
) -> None:
    """One phase: announced with its planned size, run, and the results written."""
    with progress.phase(name, size):
        work()
    record.save(progress.done)


def run_recorded(progress: Progress, record: Record, work: Callable[[], object]) -> int:
    """Run ``work`` (its phases), and when a signal stops it or a phase fails, write what
    was measured with the reason. Returns the exit status: 0, 1 (a phase failed) or 130
    (stopped)."""
    try:
        with stop_on_signals():
            work()
    except (Exception, Stopped, KeyboardInterrupt) as exc:
        reason = record.save_stopped(progress.done, progress.current, exc)
        where = f" in phase {progress.current!r}" if progress.current else ""
        progress.console.print(f"{reason}{where}; what was measured is in {record.path} (run.complete false)")
        if isinstance(exc, Exception):
            progress.console.print_exception()
            return 1
        return 130
    return 0


def _plain(value: object) -> object:
    """numpy scalars and paths, which results may hold, as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
