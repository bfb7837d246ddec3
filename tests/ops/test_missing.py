"""What the worker runs without is said at start and by /readyz, and does not make it unready."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from worker.config.policy import CategoryRule
from worker.config.settings import Settings
from worker.ops.health import Health
from worker.ops.missing import log_missing, missing_parts


def test_an_empty_models_volume_and_unchosen_clip_thresholds_are_said(tmp_path: Path) -> None:
    notes = missing_parts(Settings(category_dir=tmp_path, clip_model="some/clip"))
    assert len(notes) == 2
    assert notes[0].startswith(f"no trained categories: {tmp_path} holds no category head")
    assert notes[1].startswith("CLIP labels [") and "only score" in notes[1]


def test_an_empty_bank_folder_is_said(tmp_path: Path) -> None:
    [note] = missing_parts(Settings(known_banks=tmp_path, clip_model=""))
    assert note.startswith(f"no hash banks: {tmp_path} has no banks.json")
    (tmp_path / "banks.json").write_text('{"banks": {}}')
    assert missing_parts(Settings(known_banks=tmp_path, clip_model="")) == ()


def test_nothing_is_missing_once_chosen(tmp_path: Path) -> None:
    (tmp_path / "hate").mkdir()
    (tmp_path / "hate" / "category.json").write_text("{}")
    chosen = {f"clip:{label}": CategoryRule(threshold=0.9) for label in Settings().clip_flag_labels}
    assert missing_parts(Settings(category_dir=tmp_path, clip_model="some/clip", policy=chosen)) == ()
    assert missing_parts(Settings(clip_model="")) == ()  # no CLIP: its labels are not missing


def test_readiness_shows_what_is_missing_and_stays_ready(caplog: pytest.LogCaptureFixture) -> None:
    health = Health(models_loaded=True, pipeline_started=True, broker_connected=True, missing=("a", "b"))
    assert health.ready and health.snapshot()["missing"] == ["a", "b"]
    with caplog.at_level(logging.WARNING, logger="worker.ops.missing"):
        log_missing(("no trained categories: x",))
    assert caplog.messages == ["missing: no trained categories: x"]
