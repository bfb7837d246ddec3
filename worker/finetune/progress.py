"""A progress line with the time left, readable both on a terminal and in a log file.

On a terminal the line is redrawn in place; elsewhere (a log file) a line is written
every ``every_s`` seconds and at the end, so ``tail -f`` shows where a run is.

Example::

    bar = Progress("epoch 1/3", total=460, done=0)
    for _ in range(460):
        ...
        bar.advance(loss=0.41)
    bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "minutes"]


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else (f"{seconds // 60}:{seconds % 60:02d}")
    )


class Progress:
    """``label  [#####.....]  230/460  50%  1:12 elapsed, 1:10 left  loss 0.41``."""

    def __init__(
        self, label: str, total: int, done: int = 0, stream: TextIO | None = None, every_s: float = 30.0
    ) -> None:
        self.label, self.total, self.done, self._start_done = label, total, done, done
        self.stream = stream or sys.stderr
        self._tty = self.stream.isatty()
        self._every = 0.2 if self._tty else every_s
        self._start = self._last = time.monotonic()
        self._note = ""
        self._drawn_at = -1

    def advance(self, steps: int = 1, **values: float) -> None:
        self.done += steps
        self._note = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
        now = time.monotonic()
        if now - self._last >= self._every or self.done >= self.total:
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = now - self._start
        ran = self.done - self._start_done
        left = (self.total - self.done) * elapsed / ran if ran else float("nan")
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(share * 20) + "." * (20 - int(share * 20))
        eta = _clock(left) if left == left else "?"
        return (
            f"{self.label}  [{bar}]  {self.done}/{self.total}  {share:4.0%}  "
            f"{_clock(elapsed)} elapsed, {eta} left  {self._note}"
        ).rstrip()

    def _draw(self, now: float) -> None:
        self._drawn_at = self.done
        if self._tty:
            self.stream.write("\r" + self.line(now) + "\x1b[K")
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn_at != self.done:
            self._draw(time.monotonic())
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
