"""Where a long bench run is: each phase announced as it starts, with its planned size
and the time since the run began, and a bar (or, off a terminal, one line a pass) within
the long phases.

Example::

    progress = Progress(["backend table", "streams"])
    with progress.phase("backend table", "4 encoders x 7 backends, up to 3 rounds"):
        with progress.bar("rounds", total=3) as advance:
            for _ in range(3):
                one_round()
                advance()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

__all__ = ["Advance", "Progress", "quiet"]

#: Called after each unit of work of a bar (with an optional note, e.g. "round 2").
Advance = Callable[..., None]


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:d}:{secs:02d}"


class Progress:
    """Phases of one run, numbered against the plan given at the start."""

    def __init__(
        self,
        planned: Sequence[str],
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.planned = list(planned)
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.clock = clock
        self.started = clock()
        #: The phase running now (None between phases), and those finished.
        self.current: str | None = None
        self.done: list[str] = []

    def _number(self, name: str) -> str:
        total = len(self.planned)
        index = self.planned.index(name) + 1 if name in self.planned else len(self.done) + 1
        return f"[{index}/{total}]"

    @contextmanager
    def phase(self, name: str, size: str) -> Iterator[None]:
        elapsed = self.clock() - self.started
        self.console.print(f"{_clock_text(elapsed)} {self._number(name)} {name}: {size}")
        self.current = name
        began = self.clock()
        yield
        self.current = None
        self.done.append(name)
        self.console.print(
            f"{_clock_text(self.clock() - self.started)}     {name} done in {self.clock() - began:.0f} s"
        )

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Advance]:
        """A bar on a terminal; elsewhere (a log file, CI) one line per step."""
        if not self.console.is_terminal:
            done = 0

            def line(note: str = "") -> None:
                nonlocal done
                done += 1
                suffix = f" ({note})" if note else ""
                elapsed = _clock_text(self.clock() - self.started)
                self.console.print(f"{elapsed}       {description}: {done}/{total}{suffix}")

            yield line
            return
        columns = (
            TextColumn("      {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
        )
        with RichProgress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=total, note="")

            def advance(note: str = "") -> None:
                bar.update(task, advance=1, note=note)

            yield advance


def quiet() -> Progress:
    """A progress that prints nothing (for library calls and tests)."""
    return Progress([], console=Console(quiet=True))
