"""The worker switches the libraries' telemetry off, and goes offline only with local models."""

from __future__ import annotations

from pathlib import Path

from worker.ops.egress import NO_TELEMETRY, OFFLINE, offline_when_local, quiet_telemetry


def test_telemetry_switches_are_set_and_the_environment_wins() -> None:
    env = {"DO_NOT_TRACK": "0"}
    quiet_telemetry(env)
    assert env["ORT_DISABLE_TELEMETRY"] == "1" and env["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert env["DO_NOT_TRACK"] == "0"
    assert set(NO_TELEMETRY) <= set(env)


def test_offline_only_when_every_model_is_local(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    assert offline_when_local([str(tmp_path), None, ""], env)
    assert all(env[name] == value for name, value in OFFLINE.items())
    # An override naming a hub id (run --set) takes it back: the hub the user named is egress.
    assert not offline_when_local([str(tmp_path), "bert-base-uncased"], env)
    assert not set(OFFLINE) & set(env)


def test_offline_set_by_the_environment_is_left_alone(tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1"}
    assert not offline_when_local(["bert-base-uncased"], env)
    assert env == {"HF_HUB_OFFLINE": "1"}
