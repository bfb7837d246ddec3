"""Every reliability scenario, in the order ``python -m moderation_lab.reliability`` runs them.

The broker restart comes last: it wipes the embedded broker, topics and all.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.harness import Context
from moderation_lab.reliability.scenario_crashes import sigkill, sigterm
from moderation_lab.reliability.scenario_hostile import hostile_input
from moderation_lab.reliability.scenario_outages import broker_restart, image_host_down, redis_outage
from moderation_lab.reliability.scenario_slow import slow_inference

__all__ = ["SCENARIOS", "Scenario"]

Scenario = Callable[[Context], Coroutine[Any, Any, Tally]]

SCENARIOS: dict[str, Scenario] = {
    "hostile-input": hostile_input,
    "sigkill": sigkill,
    "sigterm": sigterm,
    "slow-inference": slow_inference,
    "redis-outage": redis_outage,
    "image-host-down": image_host_down,
    "broker-restart": broker_restart,
}
