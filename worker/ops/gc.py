"""Garbage-collector pauses: measured, and kept short by freezing the startup heap.

A loaded worker holds about half a million long-lived Python objects (the
modules of torch, transformers and faust, the models' parameters and modules).
CPython's full (generation 2) collection walks every one of them, and while it
runs it holds the GIL: the event loop, the consumer thread and the model's
Python-level forward all stop. Measured here on the full-size models, one full
collection took 250 ms, about one post's compute. Full collections are rare
(one comes after about 25% of the long-lived heap's size in new survivors: none
happened in a 4-minute benchmark run), but a worker runs for weeks, and each
one lands on the latency of the posts in flight. :func:`freeze_startup_heap`
moves everything alive once the worker has started into the permanent
generation (``gc.freeze``), so that later full collections only walk what was
created since: the same collection then took under 1 ms. Objects made at
startup are meant to live as long as the process; the cost is that a cycle
among them that becomes garbage later is never freed.

:class:`GcPauses` times every collection (``gc.callbacks``) and hands the
pause to a callback, by generation; the worker exports them as the
``moderation_gc_pause_seconds`` histogram.

Example::

    frozen = freeze_startup_heap()          # once, when the models are loaded
    pauses = GcPauses(stats.on_gc_pause)    # (generation, seconds) per collection
    pauses.install()
    ...
    pauses.uninstall()
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["GcPauses", "freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Collect once, then freeze every surviving object; returns how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GcPauses:
    """Reports the duration of each garbage collection as ``(generation, seconds)``.

    The callback runs in whichever thread triggered the collection, with the GIL
    held: it must be quick and thread-safe (a Prometheus histogram is both).
    """

    def __init__(self, report: Callable[[int, float], None]) -> None:
        self._report = report
        self._started = threading.local()

    def install(self) -> None:
        if self._hook not in gc.callbacks:
            gc.callbacks.append(self._hook)

    def uninstall(self) -> None:
        while self._hook in gc.callbacks:
            gc.callbacks.remove(self._hook)

    def _hook(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started.at = time.perf_counter()
            return
        started: float | None = getattr(self._started, "at", None)
        if started is None:  # installed between a collection's start and its stop
            return
        self._started.at = None
        self._report(int(info.get("generation", -1)), time.perf_counter() - started)
