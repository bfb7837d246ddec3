"""What a replay shows while it runs: its plan, then a progress bar with rate and time left.

Example::

    with ReplayProgress(Console(stderr=True)) as progress:
        await run_replay(..., observer=progress)
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from worker.audit.replay.planning import Plan

__all__ = ["ReplayProgress", "plan_table"]


class RateColumn(ProgressColumn):
    """Posts answered per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- posts/s" if speed is None else f"{speed:.1f} posts/s", style="cyan")


def plan_table(plan: Plan) -> Table:
    """One row per partition: the offsets read, what the log retains, how they were found."""
    table = Table(title=f"Replay of {plan.topic}: {plan.total} records")
    for column in ("partition", "offsets [start, end)", "retained [low, high)", "found by", "records"):
        table.add_column(column, justify="right" if column in ("partition", "records") else "left")
    for r in plan.ranges:
        table.add_row(str(r.partition), f"{r.start}-{r.end}", f"{r.low}-{r.high}", r.how, str(r.size))
    if plan.notes:
        table.caption = "; ".join(plan.notes)
    return table


class ReplayProgress:
    """A replay observer that draws on ``console`` (best on stderr, keeping stdout for results)."""

    def __init__(self, console: Console, bar: bool = True) -> None:
        self.console = console
        self.bar = bar
        self._progress = Progress(
            TextColumn("[bold]replay"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=console,
            speed_estimate_period=10.0,
        )
        self._task: TaskID | None = None
        self._count = 0

    def __enter__(self) -> ReplayProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None and self._task is not None:
            # The plan's total counts offsets; gaps (compaction, markers) hold no post.
            self._progress.update(self._task, total=self._count, completed=self._count)
        self._progress.stop()

    def planned(self, plan: Plan) -> None:
        self.console.print(plan_table(plan))
        if self.bar:
            self._task = self._progress.add_task("replay", total=plan.total)
            self._progress.start()

    def answered(self, count: int) -> None:
        self._count = count
        if self._task is not None:
            self._progress.update(self._task, completed=count)
