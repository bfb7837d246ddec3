"""The policy: which categories flag a post, at which threshold. Pure, no I/O.

A category flags when its score reaches its rule's threshold, its rule says it
flags, and every part behind its score was trained (an untrained part never decides,
see :mod:`worker.model.untrained`). CLIP's zero-shot labels are trained but
uncalibrated: a label's probability depends on the other labels and the prompt, and
no precision was measured for any default threshold. So a ``clip:*`` category only
scores until a threshold is chosen for it explicitly, ``MODERATION_CLIP_FLAG_THRESHOLD``
for the flag labels or a ``threshold`` in its ``MODERATION_POLICY`` rule
(:attr:`Policy.unmeasured` lists those that would flag once one is).

Rules come from ``MODERATION_POLICY`` on top of the per-head settings
(:mod:`worker.config.policy`); :func:`check_policy` refuses, at start, a rule for a
category that no loaded model answers.

Example::

    policy = Policy.from_settings(settings)
    decision = policy.decide(categories, untrained=identity.untrained)
    decision.reasons        # ["hate: 0.912 >= 0.5"]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from worker.config.policy import CategoryRule
from worker.config.settings import Settings
from worker.errors import ConfigError
from worker.model.categories import BUILTIN, CLIP_PREFIX, KNOWN_PREFIX, CategoryScore, Modality

__all__ = ["Decision", "Policy", "check_policy", "known_categories"]


@dataclass(frozen=True)
class Decision:
    """What the policy said about one post's categories (the verdict's category fields)."""

    flagged: dict[str, bool] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    applied: dict[str, list[Modality]] = field(default_factory=dict)
    untrained: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    """Category name -> rule; a category without a rule flags at the default threshold."""

    rules: Mapping[str, CategoryRule]
    #: CLIP categories that would flag but only score: no threshold was chosen for them.
    unmeasured: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        rules: dict[str, CategoryRule] = {
            "bias": CategoryRule(threshold=settings.bias_threshold),
            "contradiction": CategoryRule(threshold=settings.contradiction_threshold),
        }
        chosen = settings.clip_flag_threshold
        for label in settings.clip_labels:
            flag = label in settings.clip_flag_labels
            # Without a chosen threshold the rule's default stands, and it counts as unchosen.
            rule = CategoryRule(flag=flag) if chosen is None else CategoryRule(threshold=chosen, flag=flag)
            rules[CLIP_PREFIX + label] = rule
        rules |= settings.policy
        unmeasured = sorted(name for name, rule in rules.items() if _unmeasured(name, rule, chosen))
        for name in unmeasured:
            rules[name] = rules[name].model_copy(update={"flag": False})
        return cls(rules, tuple(unmeasured))

    def rule(self, category: str) -> CategoryRule:
        return self.rules.get(category) or CategoryRule()

    def decide(self, categories: Mapping[str, CategoryScore], untrained: Iterable[str]) -> Decision:
        decision = Decision()
        random_parts = set(untrained)
        for name in sorted(categories):
            found, rule = categories[name], self.rule(name)
            score = round(found.score, 6)
            is_untrained = bool(random_parts.intersection(found.parts))
            flags = rule.flag and not is_untrained and score >= rule.threshold
            decision.flagged[name] = flags
            decision.scores[name] = score
            decision.applied[name] = list(found.applied)
            if is_untrained:
                decision.untrained.append(name)
            if flags:
                note = f" ({found.detail})" if found.detail else ""
                decision.reasons.append(f"{name}: {score:.3f} >= {rule.threshold}{note}")
        return decision


def _unmeasured(name: str, rule: CategoryRule, clip_threshold: float | None) -> bool:
    """A CLIP rule that would flag with no threshold chosen for it (see the module docstring)."""
    if not name.startswith(CLIP_PREFIX) or not rule.flag:
        return False
    return clip_threshold is None and "threshold" not in rule.model_fields_set


def known_categories(settings: Settings, added: Iterable[str] = ()) -> set[str]:
    """Every category the configured models can answer."""
    known = set(BUILTIN) | set(added)
    if settings.clip_model:
        known |= {CLIP_PREFIX + label for label in settings.clip_labels}
    return known


def check_policy(settings: Settings, added: Iterable[str] = ()) -> None:
    """Refuse (one line) a policy rule naming a category no loaded model answers."""
    known = known_categories(settings, added)
    # Hash banks come and go without a restart: any ``known:BANK`` may be given a rule.
    unknown = sorted(name for name in set(settings.policy) - known if not name.startswith(KNOWN_PREFIX))
    if unknown:
        raise ConfigError(
            f"MODERATION_POLICY names unknown categories {unknown}; the models answer: {sorted(known)}"
        )
