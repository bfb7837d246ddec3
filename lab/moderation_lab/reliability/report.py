"""The scenarios' figures: a table on the terminal and ``reliability-results.json``.

Example::

    print_report(tallies, console)
    write_results(tallies, Path("reliability-results.json"))
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from moderation_lab.reliability.accounting import Tally

__all__ = ["print_report", "write_results"]

_COLUMNS = ("sent", "verdicts", "dead letters", "duplicates", "lost", "canary", "seconds", "result")


def _row(tally: Tally) -> list[str]:
    result = "[green]pass[/]" if tally.passed else "[red]FAIL[/]"
    figures = (tally.posts_sent, tally.verdicts, tally.dead_letters, tally.duplicates, tally.lost)
    return [
        tally.scenario,
        tally.broker,
        tally.guarantee.replace("_", "-") if tally.broker else "",
        *(str(n) for n in figures),
        str(tally.canary_requests),
        f"{tally.seconds:.1f}",
        result,
    ]


def print_report(tallies: list[Tally], console: Console) -> None:
    """One row per scenario and a total; then every failed check, with its detail."""
    table = Table(title="Reliability scenarios")
    table.add_column("scenario")
    table.add_column("broker")
    table.add_column("guarantee")
    for column in _COLUMNS:
        table.add_column(column, justify="right")
    for tally in tallies:
        table.add_row(*_row(tally))
    total = Tally.total(tallies)
    table.add_section()
    table.add_row(*_row(total), style="bold")
    console.print(table)
    for tally in tallies:
        for check in tally.failed:
            where = f"{tally.scenario} ({tally.broker}, {tally.guarantee})"
            console.print(f"[red]FAIL[/] {where}: {check.name}: {check.detail}")


def write_results(tallies: list[Tally], path: Path) -> None:
    """Per scenario and in total: the figures, every check, and the notes."""
    total = Tally.total(tallies)
    document = {
        "generated_at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "passed": total.passed,
        "total": {k: v for k, v in total.as_json().items() if k not in ("checks", "notes")},
        "scenarios": [tally.as_json() for tally in tallies],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
