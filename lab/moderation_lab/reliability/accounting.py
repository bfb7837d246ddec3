"""Counting what a scenario sent against what came back. Pure: no I/O.

A post is *answered* when at least one verdict or dead letter carries its key.
``duplicates`` counts answers beyond the first per post (at-least-once delivery
after a crash), ``lost`` the posts with no answer at all: the one figure that must
always be 0.

Example::

    tally = Tally.count("sigkill", sent_keys, outputs.outcomes, seconds=41.2)
    tally.check("every post answered", tally.lost == 0)
    tally.passed
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from moderation_lab.reliability.harness import Outcome

__all__ = ["Check", "Tally"]


@dataclass(frozen=True)
class Check:
    """One expectation of a scenario and whether it held."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Tally:
    """The figures of one scenario, and its checks."""

    scenario: str
    posts_sent: int
    verdicts: int
    dead_letters: int
    duplicates: int
    lost: int
    canary_requests: int = 0
    seconds: float = 0.0
    #: Which embedded broker, and which processing guarantee the workers ran under.
    broker: str = ""
    guarantee: str = "at_least_once"
    checks: list[Check] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def count(cls, scenario: str, sent: Iterable[str], outcomes: Iterable[Outcome]) -> Tally:
        """Figures for the posts keyed ``sent``; answers to other keys are ignored."""
        keys = set(sent)
        mine = [o for o in outcomes if o.key in keys]
        per_key = Counter(o.key for o in mine)
        return cls(
            scenario=scenario,
            posts_sent=len(keys),
            verdicts=sum(1 for o in mine if o.kind == "verdict"),
            dead_letters=sum(1 for o in mine if o.kind == "dead_letter"),
            duplicates=sum(n - 1 for n in per_key.values()),
            lost=len(keys - set(per_key)),
        )

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return ok

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.canary_requests == 0 and not self.failed

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    @staticmethod
    def total(tallies: list[Tally]) -> Tally:
        total = Tally("total", 0, 0, 0, 0, 0)
        for t in tallies:
            total.posts_sent += t.posts_sent
            total.verdicts += t.verdicts
            total.dead_letters += t.dead_letters
            total.duplicates += t.duplicates
            total.lost += t.lost
            total.canary_requests += t.canary_requests
            total.seconds += t.seconds
            where = f"{t.scenario} [{t.broker}, {t.guarantee}]" if t.broker else t.scenario
            total.checks.extend(Check(f"{where}: {c.name}", c.ok, c.detail) for c in t.checks)
        return total
