"""Every reliability scenario, and the order ``python -m moderation_lab.reliability`` runs them in.

Each runs at least once on every embedded broker; those in :data:`EXACTLY_ONCE` run
again, under ``MODERATION_PROCESSING_GUARANTEE=exactly_once``, on a broker with
transactions. The broker restarts come last: Tansu comes back empty, topics and all.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.harness import Context
from moderation_lab.reliability.scenario_crashes import sigkill, sigterm
from moderation_lab.reliability.scenario_hostile import hostile_input
from moderation_lab.reliability.scenario_outages import broker_restart, image_host_down, redis_outage
from moderation_lab.reliability.scenario_rebalance import rebalance
from moderation_lab.reliability.scenario_slow import slow_inference

__all__ = ["EXACTLY_ONCE", "SCENARIOS", "Run", "Scenario", "plan"]

Scenario = Callable[[Context], Coroutine[Any, Any, Tally]]

SCENARIOS: dict[str, Scenario] = {
    "hostile-input": hostile_input,
    "sigkill": sigkill,
    "sigterm": sigterm,
    "rebalance": rebalance,
    "slow-inference": slow_inference,
    "redis-outage": redis_outage,
    "image-host-down": image_host_down,
    "broker-restart": broker_restart,
}

#: The scenarios that also run under exactly-once (where the broker has transactions).
EXACTLY_ONCE: tuple[str, ...] = ("sigkill", "sigterm", "rebalance", "broker-restart")


@dataclass(frozen=True)
class Run:
    """One scenario under one processing guarantee."""

    name: str
    scenario: Scenario
    guarantee: str


def plan(names: Sequence[str], *, transactions: bool) -> list[Run]:
    """The runs for ``names`` on one broker, broker restarts last."""
    runs = [Run(name, SCENARIOS[name], "at_least_once") for name in names]
    if transactions:
        runs += [Run(name, SCENARIOS[name], "exactly_once") for name in names if name in EXACTLY_ONCE]
    return sorted(runs, key=lambda run: run.name == "broker-restart")
