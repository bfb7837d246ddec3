"""What ``replay`` and ``compare`` do once their options are parsed (see :mod:`worker.audit.commands`).

Example::

    result = replay_command(Settings(), ReplayArgs(out=Path("audit.jsonl")), Console())
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from worker.audit.compare.diff import Comparison, compare_sets
from worker.audit.compare.load import load_verdicts
from worker.audit.compare.plot import write_plot
from worker.audit.compare.report import comparison_tables
from worker.audit.errors import CompareError
from worker.audit.replay.outputs import JsonlOutput, Output, TopicOutput
from worker.audit.replay.progress import ReplayProgress
from worker.audit.replay.ranges import RangeRequest, parse_offsets, parse_time
from worker.audit.replay.runner import ReplayResult, run_replay
from worker.audit.replay.summary import summary_table
from worker.config.settings import Settings
from worker.model.choice import named_settings

__all__ = ["ReplayArgs", "compare_command", "replay_command"]


@dataclass(frozen=True)
class ReplayArgs:
    """The ``replay`` command's options."""

    out: Path | None = None
    to_topic: str | None = None
    topic: str | None = None
    partitions: list[int] = field(default_factory=list)
    offsets: list[str] = field(default_factory=list)
    from_time: str | None = None
    to_time: str | None = None
    model_dir: Path | None = None
    sets: list[str] = field(default_factory=list)
    progress: bool = True

    def request(self) -> RangeRequest:
        return RangeRequest(
            partitions=tuple(self.partitions) or None,
            offsets=parse_offsets(self.offsets),
            from_ms=parse_time(self.from_time) if self.from_time else None,
            to_ms=parse_time(self.to_time) if self.to_time else None,
        )

    def output(self, settings: Settings) -> Output:
        if self.out is not None:
            return JsonlOutput(self.out)
        assert self.to_topic is not None, "the CLI requires --out or --to-topic"
        return TopicOutput(settings, self.to_topic)


def replay_command(base: Settings, args: ReplayArgs, console: Console) -> ReplayResult:
    """Load the named model, replay the range, print the summary."""
    settings = named_settings(base, args.model_dir, args.sets)
    request, output = args.request(), args.output(settings)
    from worker.model import ModerationModel  # torch: only once the arguments are known good

    scorer = ModerationModel.load(settings)
    topic = args.topic or settings.posts_topic
    with ReplayProgress(Console(stderr=True), bar=args.progress) as observer:
        result = asyncio.run(run_replay(settings, scorer, topic, request, output, observer))
    console.print(summary_table(result.tally, result.seconds))
    identity = result.identity
    console.print(
        f"model: heads {identity.heads}, weights_sha256 {identity.weights_sha256[:16]}…, "
        f"settings_sha256 {(identity.settings_sha256 or '')[:16]}…"
    )
    console.print(f"verdicts: {output.description}")
    return result


def compare_command(
    base: Settings, left: str, right: str, plot: Path, examples: int, sets: list[str], console: Console
) -> Comparison:
    """Read both verdict sets, print the tables, write the plot."""
    settings = named_settings(base, None, sets)

    async def load_both() -> Comparison:
        a, b = await load_verdicts(left, settings), await load_verdicts(right, settings)
        if not a.verdicts.keys() & b.verdicts.keys():
            raise CompareError(f"{left} and {right} have no post in common")
        return compare_sets(a, b, examples=examples)

    result = asyncio.run(load_both())
    for table in comparison_tables(result):
        console.print(table)
    console.print(f"plot: {write_plot(result, plot)}")
    return result
