"""The agreement probe: the rule, its cache (reused, and in memory where the folder is
read-only), the fall-back with a WARNING where a backend disagrees, the startup log line.

Nothing here depends on the CPU's features: disagreement is injected (a backend whose
outputs are perturbed), and the candidates come from the recorded order of this CPU."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from tests.model.conftest import MakeSettings
from worker.model import ModerationModel
from worker.model.agreement import CACHE_FILE, COSINE_MIN, Agreement, measure_agreement
from worker.model.backends import RECORDED, candidate_backends
from worker.model.cpu_features import cpu_features
from worker.model.precision import cpu_has_native_bf16
from worker.model.runners import Runner

CPU = torch.device("cpu")


def test_the_rule_is_cosine_and_bias_score() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 16)).astype(np.float32)
    assert measure_agreement(a, a).cosine_min == pytest.approx(1.0) and measure_agreement(a, a).agrees
    b = a.copy()
    b[3] += rng.normal(size=16) * 0.5  # one row moved far: the lowest cosine decides
    moved = measure_agreement(a, b)
    assert moved.cosine_min < COSINE_MIN and not moved.agrees and "cosine" in moved.describe()
    scores = np.linspace(0, 1, 6)
    assert measure_agreement(a, a, scores, scores + 0.004).agrees
    off = measure_agreement(a, a, scores, scores + np.array([0, 0, 0.006, 0, 0, 0]))
    assert off.score_diff_max == pytest.approx(0.006) and not off.agrees
    assert Agreement(0.999, None).agrees and not Agreement(0.99899, None).agrees


def _perturbing(monkeypatch: pytest.MonkeyPatch, backend: str, scale: float = 0.3) -> list[str]:
    """Make ``backend``'s probe outputs disagree with fp32; returns the probed backends."""
    import worker.model.probe as probe

    real = probe.build_runners
    probed: list[str] = []

    def build(graphs: Mapping[Any, Any], backends: Mapping[Any, Any], cache_dir: Path) -> dict[Any, Runner]:
        runners = real(graphs, backends, cache_dir)
        probed.extend(backends.values())
        for encoder, chosen in backends.items():
            if chosen == backend:
                runners[encoder] = _Noisy(runners[encoder], scale)
        return runners

    monkeypatch.setattr(probe, "build_runners", build)
    return probed


class _Noisy:
    def __init__(self, inner: Runner, scale: float) -> None:
        self.inner, self.backend, self.scale = inner, inner.backend, scale

    def __call__(self, *inputs: Tensor) -> Tensor:
        out = self.inner(*inputs)
        noise = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
        return out + noise * out.abs().mean() * self.scale * 10


def _auto(make_settings: MakeSettings, folder: Path, **overrides: Any) -> ModerationModel:
    return ModerationModel.load(make_settings(precision="auto", onnx_cache_dir=folder, **overrides))


def test_probe_results_are_cached_and_a_restart_probes_nothing(
    make_settings: MakeSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _auto(make_settings, tmp_path)
    reduced = {e: r for e, r in first.agreement.items() if r is not None}
    assert reduced, "this CPU's recorded order starts with a reduced-precision backend somewhere"
    assert all(r.source == "measured" and r.agrees for r in reduced.values())
    stored = json.loads((tmp_path / CACHE_FILE).read_text())
    assert len(stored) == len(reduced)
    entry = next(iter(stored.values()))
    assert entry["agrees"] is True and entry["key"]["cpu"] == list(cpu_features())
    assert {"weights_sha256", "backend", "recipe", "versions", "inputs_sha256"} <= entry["key"].keys()

    def never(*args: object) -> None:
        raise AssertionError("probed again")

    monkeypatch.setattr("worker.model.probe.Prober.measure", never)
    again = _auto(make_settings, tmp_path)
    assert again.backends == first.backends
    assert all(r is None or r.source == "cached" for r in again.agreement.values())
    # Other heads change the bias scores: the text and image encoders probe anew.
    from worker.model.heads import HeadsConfig

    monkeypatch.undo()
    other = ModerationModel.load(
        make_settings(precision="auto", onnx_cache_dir=tmp_path), fresh_heads=HeadsConfig(projection_dim=24)
    )
    text = other.agreement["text"]
    if text is not None:
        assert text.source == "measured"


def test_a_read_only_cache_folder_probes_in_memory_at_each_start(
    make_settings: MakeSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")  # mkdir under it fails, as on a read-only root (even as root)
    named = {"text_backend": "torch-int8", "clip_image_backend": "torch-int8", "image_backend": "torch-fp32"}
    with caplog.at_level(logging.WARNING, logger="worker.model.agreement"):
        for _ in range(2):
            model = _auto(make_settings, blocked / "onnx", clip_text_backend="torch-fp32", **named)
            assert model.agreement["text"] is not None and model.agreement["text"].source == "memory"
            assert model.agreement["image"] is None  # fp32 needs no probe
    said = [r.getMessage() for r in caplog.records if "keeping them in memory" in r.getMessage()]
    assert len(said) == 2 and str(blocked) in said[0]  # once per start, not once per encoder


@pytest.mark.parametrize("bf16", [False, True])
def test_a_disagreeing_backend_falls_back_to_the_next_with_a_warning(
    make_settings: MakeSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    bf16: bool,
) -> None:
    """Both recorded orders, whatever this CPU: without bf16 the order is that of a CPU
    without bf16 instructions (the bf16 backend is never offered)."""
    if bf16 and not cpu_has_native_bf16():
        pytest.skip("this CPU has no bf16 instructions: its order never offers torch-bf16")
    monkeypatch.setattr("worker.model.backends.cpu_has_native_bf16", lambda: bf16)
    order = candidate_backends("clip_text", "auto", "auto", CPU)
    assert order == RECORDED[bf16]["clip_text"]
    probed = _perturbing(monkeypatch, order[0])
    with caplog.at_level(logging.WARNING, logger="worker.model.agreement"):
        model = _auto(make_settings, tmp_path)
    # The next that agrees: order[1] where the probe keeps it (torch int8 may fall short of
    # 0.999 on this tiny CLIP text tower, and then torch fp32 follows).
    chosen = model.backends["clip_text"]
    assert chosen in order[1:] and model.identity.backends["clip_text"] == chosen
    assert order[0] in probed
    # One warning per refused candidate (without bf16, torch int8 may follow it: the tiny
    # CLIP text tower measured cosine 0.9973 on it under an emulated Haswell).
    [warning] = [r for r in caplog.records if f"clip_text encoder on {order[0]} " in r.getMessage()]
    message = warning.getMessage()
    assert warning.levelno == logging.WARNING and order[0] in message and f"trying {order[1]}" in message
    cosine = float(message.split("cosine ")[1].split(",")[0])
    assert cosine < COSINE_MIN
    result = model.agreement["clip_text"]
    assert (result is None and chosen == "torch-fp32") or (result is not None and result.agrees)
    # The disagreement is cached too: the next start falls back without probing.
    caplog.clear()
    monkeypatch.setattr("worker.model.probe.Prober.measure", _refuse_measuring)
    with caplog.at_level(logging.WARNING, logger="worker.model.agreement"):
        again = _auto(make_settings, tmp_path)
    assert again.backends["clip_text"] == chosen
    assert any("cached" in r.getMessage() for r in caplog.records)


def _refuse_measuring(*args: object) -> Agreement:
    raise AssertionError("probed again")


def test_a_named_backend_that_disagrees_is_kept_with_a_warning(
    make_settings: MakeSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _perturbing(monkeypatch, "ort-int8")
    with caplog.at_level(logging.WARNING, logger="worker.model.agreement"):
        model = _auto(make_settings, tmp_path, clip_text_backend="ort-int8")
    assert model.backends["clip_text"] == "ort-int8"
    result = model.agreement["clip_text"]
    assert result is not None and not result.agrees
    assert any("kept because the settings name it" in r.getMessage() for r in caplog.records)


def test_startup_log_names_the_cpu_and_each_encoders_backend_and_probe(
    make_settings: MakeSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="worker.model.moderation"):
        model = _auto(make_settings, tmp_path)
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("CPU instruction sets")]
    assert " ".join(cpu_features()) in line
    for encoder, backend in model.backends.items():
        result = model.agreement[encoder]
        assert f"{encoder} {backend} ({'fp32' if result is None else result.describe()})" in line
    assert model.identity.backends == model.backends


def test_the_quantizer_logs_nothing_below_warning(
    make_settings: MakeSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        ModerationModel.load(make_settings(text_backend="ort-int8", clip_model="", onnx_cache_dir=tmp_path))
    quantizer = [r for r in caplog.records if "quantization" in r.pathname]
    assert quantizer == []
    ours = [r.getMessage() for r in caplog.records if r.name == "worker.model.onnx_export"]
    assert any(message.startswith("quantizing") for message in ours)  # the export itself still says so
