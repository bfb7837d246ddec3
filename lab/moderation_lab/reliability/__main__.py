"""``python -m moderation_lab.reliability``: run the reliability scenarios, print and save the figures.

Starts an embedded broker, ``redis-server``, the image servers, a canary and real
worker processes; runs every scenario (or those named with ``--only``) at least once
on each embedded broker (Tansu and noida-db, or those ``--broker`` or
``LAB_BROKER`` names), and the exactly-once scenarios on the brokers with
transactions; prints one row per scenario, broker and guarantee, and writes them to
``reliability-results.json``. Exits 1 if any scenario lost a post, let a blocked URL
reach the canary, or failed a check.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import traceback
from pathlib import Path

from rich.console import Console

from moderation_lab.embedded.brokers import KINDS, broker_kinds
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.canary import Canary
from moderation_lab.reliability.harness import Context
from moderation_lab.reliability.hostile_server import HostileServer
from moderation_lab.reliability.report import print_report, write_results
from moderation_lab.reliability.scenarios import SCENARIOS, Run, Scenario, plan


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m moderation_lab.reliability", description=__doc__)
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="run only these scenarios")
    parser.add_argument(
        "--broker",
        choices=[*KINDS, "all"],
        default=None,
        help="embedded broker(s) to run on (default: LAB_BROKER, else all)",
    )
    parser.add_argument("--output", type=Path, default=Path("reliability-results.json"))
    parser.add_argument("--models-dir", type=Path, default=Path(".models/tiny"))
    parser.add_argument(
        "--workdir", type=Path, default=None, help="logs of every process (default: a temp dir)"
    )
    return parser.parse_args(argv)


def _run_one(name: str, scenario: Scenario, ctx: Context, console: Console) -> Tally:
    console.print(f"[bold]{name}[/] on {ctx.stack.broker.kind}, {ctx.guarantee.replace('_', '-')} ...")
    before, started = ctx.canary.connections, time.monotonic()
    try:
        tally = asyncio.run(scenario(ctx))
    except Exception as exc:  # one broken scenario must not hide the others' figures
        tally = Tally(name, 0, 0, 0, 0, 0, seconds=time.monotonic() - started)
        tally.check("scenario ran to the end", False, "".join(traceback.format_exception_only(exc)).strip())
        console.print(traceback.format_exc(), markup=False)
    tally.canary_requests = ctx.canary.connections - before
    tally.broker, tally.guarantee = ctx.stack.broker.kind, ctx.guarantee
    console.print(f"  {'pass' if tally.passed else 'FAIL'} in {tally.seconds:.1f}s")
    return tally


def _on_broker(kind: str, workdir: Path, args: argparse.Namespace, console: Console) -> list[Tally]:
    """Every planned run on one embedded broker of ``kind``, started fresh."""
    stack = EmbeddedStack(workdir, models_dir=args.models_dir, broker=kind)
    runs: list[Run] = plan(args.only or list(SCENARIOS), transactions=stack.broker.transactions)
    with stack, HostileServer() as hostile, Canary() as canary:
        canary.self_test()
        console.print(
            f"{kind}: canary on port {canary.port} ({', '.join(canary.families)}); logs in {workdir}"
        )
        return [
            _run_one(
                run.name, run.scenario, Context(stack, hostile, canary, guarantee=run.guarantee), console
            )
            for run in runs
        ]


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Wide enough for the table when the output is a log file or a CI console.
    console = Console(width=None if sys.stdout.isatty() else 150)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reliability-"))
    brokers = broker_kinds(args.broker or "all") if args.broker != "all" else KINDS
    tallies: list[Tally] = []
    for kind in brokers:
        tallies += _on_broker(kind, workdir / kind, args, console)
    print_report(tallies, console)
    write_results(tallies, args.output)
    console.print(f"wrote {args.output}")
    return 0 if all(t.passed for t in tallies) else 1


if __name__ == "__main__":
    raise SystemExit(main())
