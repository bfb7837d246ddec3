"""The policy: categories in every verdict, thresholds and score-only categories, checked at start."""

from __future__ import annotations

import pytest
import typer
from pydantic import ValidationError

from tests.support.fakes import FakeScorer
from tests.test_pipeline import post, run
from worker import names
from worker.cli import _settings_or_exit
from worker.config.fingerprint import settings_sha256
from worker.config.policy import CategoryRule
from worker.config.settings import Settings
from worker.errors import ConfigError
from worker.model.categories import CategoryScore
from worker.verdicts.policy import Policy, check_policy

TEXT_ONLY = ("text",)


def test_a_category_flags_at_its_threshold_unless_it_only_scores() -> None:
    policy = Policy.from_settings(
        Settings(policy={"hate": CategoryRule(threshold=0.6), "offensive": CategoryRule(flag=False)})
    )
    decision = policy.decide(
        {
            "hate": CategoryScore(0.61, TEXT_ONLY, ("hate_head",)),
            "offensive": CategoryScore(0.99, TEXT_ONLY, ("hate_head",)),
            "spam": CategoryScore(0.49, TEXT_ONLY, ("spam_head",)),
        },
        untrained=[],
    )
    assert decision.flagged == {"hate": True, "offensive": False, "spam": False}
    assert decision.scores == {"hate": 0.61, "offensive": 0.99, "spam": 0.49}
    assert decision.reasons == ["hate: 0.610 >= 0.6"]
    assert decision.applied["hate"] == ["text"]


def test_the_older_settings_are_the_defaults_and_the_policy_overrides_them() -> None:
    settings = Settings(bias_threshold=0.7, clip_flag_labels=("weapons",), clip_flag_threshold=0.3)
    policy = Policy.from_settings(settings)
    assert policy.rule("bias").threshold == 0.7
    assert policy.rule("clip:weapons").flag and not policy.rule("clip:violence or gore").flag
    assert policy.rule("clip:weapons").threshold == 0.3 and policy.unmeasured == ()
    overridden = Policy.from_settings(
        settings.model_copy(update={"policy": {"bias": CategoryRule(threshold=0.9)}})
    )
    assert overridden.rule("bias").threshold == 0.9


def test_clip_labels_only_score_until_a_threshold_is_chosen_for_them() -> None:
    """Zero-shot probabilities are uncalibrated: nobody measured a precision at 0.5."""
    flag_labels = ("weapons", "violence or gore")
    unchosen = Policy.from_settings(Settings(clip_flag_labels=flag_labels))
    assert unchosen.unmeasured == ("clip:violence or gore", "clip:weapons")
    assert not any(unchosen.rule(f"clip:{label}").flag for label in flag_labels)
    decision = unchosen.decide({"clip:weapons": CategoryScore(0.99, ("image",), ("clip",))}, untrained=[])
    assert decision.flagged == {"clip:weapons": False} and decision.scores == {"clip:weapons": 0.99}
    # A threshold given in the policy rule: that label flags, the other still only scores.
    one = Policy.from_settings(
        Settings(clip_flag_labels=flag_labels, policy={"clip:weapons": CategoryRule(threshold=0.8)})
    )
    assert one.rule("clip:weapons") == CategoryRule(threshold=0.8) and one.unmeasured == (
        "clip:violence or gore",
    )
    # A rule that only says "flag" chooses no threshold.
    said_flag = Policy.from_settings(Settings(policy={"clip:weapons": CategoryRule(flag=True)}))
    assert not said_flag.rule("clip:weapons").flag and "clip:weapons" in said_flag.unmeasured
    # Other categories keep the default threshold: their heads were trained and evaluated.
    assert Policy.from_settings(Settings()).rule("hate") == CategoryRule()


async def test_every_verdict_carries_its_categories_in_the_moderation_api_shape() -> None:
    publisher, _, _ = await run([post("p1", text="hello world!", images=["https://img.test/ok/40x30.png"])])
    [verdict] = publisher.on("verdicts")
    assert verdict["schema_version"] == names.VERDICT_SCHEMA_VERSION
    # Scored, not flagged: no threshold was chosen for the CLIP labels.
    assert verdict["categories"]["clip:weapons"] is False and verdict["category_scores"]["clip:weapons"] > 0.5
    assert verdict["category_scores"]["bias"] == 0.5
    assert verdict["category_applied_input_types"]["bias"] == ["text", "image"]
    assert "contradiction" not in verdict["categories"]  # no reference: not scored
    assert verdict["flagged"] == any(verdict["categories"].values())
    assert FakeScorer.identity.untrained == []


def test_an_unknown_category_is_a_one_line_error_at_start() -> None:
    settings = Settings(policy={"hat": CategoryRule()})
    with pytest.raises(ConfigError) as caught:
        check_policy(settings, added=["hate", "offensive"])
    message = str(caught.value)
    assert "\n" not in message and "'hat'" in message and "'hate'" in message
    check_policy(Settings(policy={"hate": CategoryRule(), "clip:weapons": CategoryRule()}), added=["hate"])


def test_a_threshold_outside_0_1_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValidationError):
        CategoryRule(threshold=1.5)
    monkeypatch.setenv("MODERATION_POLICY", '{"hate": {"threshold": 1.5}}')
    with pytest.raises(typer.Exit):
        _settings_or_exit([])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MODERATION_POLICY" in err and "less than or equal to 1" in err


def test_the_policy_is_part_of_settings_sha256() -> None:
    base = Settings()
    stricter = Settings(policy={"bias": CategoryRule(threshold=0.9)})
    score_only = Settings(policy={"bias": CategoryRule(flag=False)})
    assert len({settings_sha256(base), settings_sha256(stricter), settings_sha256(score_only)}) == 3


def test_a_clip_flag_label_that_is_not_a_label_is_an_error_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODERATION_CLIP_LABELS", '["cat", "dog"]')
    with pytest.raises(typer.Exit):
        _settings_or_exit([])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'weapons'" in err and "not among MODERATION_CLIP_LABELS" in err
    monkeypatch.setenv("MODERATION_CLIP_FLAG_LABELS", '["dog"]')
    assert _settings_or_exit([]).clip_flag_labels == ("dog",)
    monkeypatch.setenv("MODERATION_CLIP_MODEL", "")  # no CLIP: its labels decide nothing
    monkeypatch.setenv("MODERATION_CLIP_FLAG_LABELS", '["fish"]')
    assert _settings_or_exit([]).clip_model == ""
