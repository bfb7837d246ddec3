"""Verdicts carry a hash of the settings that affect their scores and labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fakes import IDENTITY
from tests.test_pipeline import post, run
from worker.config.fingerprint import SCORE_SETTINGS, identity_with_settings, score_settings, settings_sha256
from worker.config.settings import Settings


def test_the_hash_is_stable_and_follows_only_score_settings() -> None:
    base = Settings()
    assert settings_sha256(base) == settings_sha256(Settings())
    assert len(settings_sha256(base)) == 64
    for changed in (
        Settings(bias_threshold=0.7),
        Settings(clip_labels=("a", "b"), clip_flag_labels=("a",)),
        Settings(max_text_tokens=128),
        Settings(heads=Path("heads")),
        Settings(text_encoder="other"),
    ):
        assert settings_sha256(changed) != settings_sha256(base)
    for same in (Settings(verdicts_topic="x", max_batch=3, cache_enabled=False), Settings(device="cpu")):
        assert settings_sha256(same) == settings_sha256(base)


def test_every_hashed_setting_exists_and_is_plain_json() -> None:
    values = score_settings(Settings(heads=Path("h")))
    assert set(values) == {"version", *SCORE_SETTINGS}
    assert values["heads"] == "h" and values["clip_labels"] == list(Settings().clip_labels)


def test_the_identity_keeps_its_weights_and_gains_the_hash() -> None:
    stamped = identity_with_settings(IDENTITY, Settings())
    assert stamped.weights_sha256 == IDENTITY.weights_sha256
    assert stamped.settings_sha256 == settings_sha256(Settings())
    assert IDENTITY.settings_sha256 is None


async def test_live_verdicts_carry_the_hash_of_the_pipeline_settings() -> None:
    publisher, _, pipeline = await run([post("p1")])
    [verdict] = publisher.on("verdicts")
    assert verdict["model"]["settings_sha256"] == settings_sha256(pipeline.settings)


def test_a_model_folder_hashes_by_content_not_by_its_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / ".models" / "text"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 32}')
    (folder / "model.safetensors").write_bytes(b"weights, hashed in weights_sha256")
    spellings = [".models/text", "./.models/text", str(folder), f"{folder}/"]
    hashes = {settings_sha256(Settings(text_encoder=name)) for name in spellings}
    assert len(hashes) == 1
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    (copy / "config.json").write_text('{"hidden_size": 32}')
    assert settings_sha256(Settings(text_encoder=str(copy))) in hashes  # another host, same content
    (copy / "config.json").write_text('{"hidden_size": 64}')
    assert settings_sha256(Settings(text_encoder=str(copy))) not in hashes
    assert score_settings(Settings(text_encoder="bert-base-uncased"))["text_encoder"] == "bert-base-uncased"
