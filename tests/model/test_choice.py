"""A second model and its settings (shadow or replay), apart from the live worker's."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.audit.replay.isolation import FLAGGED, replay_pipeline_settings
from worker.config.settings import Settings
from worker.errors import ConfigError
from worker.model.choice import (
    model_dir_settings,
    named_settings,
    parse_overrides,
)


def test_overrides_take_field_or_variable_names_and_json_lists() -> None:
    values = parse_overrides(
        ["bias_threshold=0.7", 'MODERATION_CLIP_LABELS=["a", "b"]', "heads=", "broker=kafka://h:1"]
    )
    assert values == {
        "bias_threshold": "0.7",
        "clip_labels": ["a", "b"],
        "heads": None,
        "broker": "kafka://h:1",
    }


@pytest.mark.parametrize("pair", ["nonsense", "no_such_setting=1", "clip_labels=a,b"])
def test_bad_overrides_are_refused(pair: str) -> None:
    with pytest.raises(ConfigError):
        parse_overrides([pair])


def test_named_settings_change_only_what_was_named() -> None:
    base = Settings(bias_threshold=0.5, max_batch=8)
    settings = named_settings(base, None, ["bias_threshold=0.7"])
    assert settings.bias_threshold == 0.7 and settings.max_batch == 8
    assert base.bias_threshold == 0.5
    with pytest.raises(ConfigError, match="bias_threshold"):
        named_settings(base, None, ["bias_threshold=2"])


def test_a_model_folder_names_every_component(tmp_path: Path) -> None:
    for name in ("text", "image", "heads"):
        (tmp_path / name).mkdir()
    values = model_dir_settings(tmp_path)
    assert values == {
        "text_encoder": str(tmp_path / "text"),
        "image_encoder": str(tmp_path / "image"),
        "clip_model": "",
        "heads": tmp_path / "heads",
    }
    with pytest.raises(ConfigError, match="image"):
        model_dir_settings(tmp_path / "heads")


def test_a_replay_pipeline_is_deterministic_and_stays_off_live_topics_and_redis() -> None:
    settings = replay_pipeline_settings(Settings(max_batch=16, reference_wait_ms=900), "posts-old")
    assert settings.max_batch == 1 and settings.max_wait_ms == 0
    assert not settings.cache_enabled and settings.reference_wait_ms == 0
    assert settings.posts_topic == "posts-old" and settings.flagged_topic == FLAGGED
    assert settings.verdicts_topic != "verdicts"


def test_errors_name_where_the_overrides_came_from() -> None:
    with pytest.raises(ConfigError, match=r"^MODERATION_SHADOW_SETTINGS: bad override 'nonsense'"):
        named_settings(Settings(), None, ["nonsense"], source="MODERATION_SHADOW_SETTINGS")
