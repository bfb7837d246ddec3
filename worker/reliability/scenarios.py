"""Every reliability scenario, in the order ``python -m worker.reliability`` runs them.

The broker restart comes last: it wipes the embedded broker, topics and all.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from worker.reliability.accounting import Tally
from worker.reliability.harness import Context
from worker.reliability.scenario_crashes import sigkill, sigterm
from worker.reliability.scenario_hostile import hostile_input
from worker.reliability.scenario_outages import broker_restart, image_host_down, redis_outage
from worker.reliability.scenario_slow import slow_inference

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
