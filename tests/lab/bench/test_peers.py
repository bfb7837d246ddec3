"""OpenVINO and CTranslate2 beside the worker's backends in the bench's table (tiny
models): rows with agreement and rates where each runs, plain reasons where it does not
(not installed, an encoder it cannot run), and OpenVINO's telemetry declined first."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import moderation_lab.bench.peers as peers
import numpy as np
import pytest
from moderation_lab.bench.backends import available_backends, compare_backends
from moderation_lab.bench.peaks import gemm_peaks
from moderation_lab.bench.peers.telemetry import consent_file, opt_out
from PIL import Image

from tests.training.conftest import MakeSettings

TEXTS = ["a post about the council", "bike lanes downtown", "ok", "a fourth, longer text here"]
needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None, reason="the lab's `peers` extra (openvino) is not installed"
)
needs_ctranslate2 = pytest.mark.skipif(
    importlib.util.find_spec("ctranslate2") is None,
    reason="the lab's `peers` extra (ctranslate2) is not installed",
)


@pytest.fixture(autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """OpenVINO's consent file in a home of the test's own."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    return home


@needs_openvino
@needs_ctranslate2
def test_peers_join_the_table_with_agreement_and_rates(
    make_settings: MakeSettings, tiny_paths: dict[str, Path], sample_images: list[Image.Image], tmp_path: Path
) -> None:
    settings = make_settings(clip_model=str(tiny_paths["clip"]), onnx_cache_dir=tmp_path)
    table = compare_backends(
        settings, TEXTS, sample_images, gemm_peaks(n=256, repeats=2), batch=2, runs=1, peers=True
    )
    rows = table["encoders"]
    for encoder in rows:
        assert set(available_backends()) <= set(rows[encoder])
        assert rows[encoder]["ov-fp32"]["cosine_min"] >= 0.999, encoder
        for backend in ("ov-fp32", "ov-int8"):
            row = rows[encoder][backend]
            assert row["items_per_s"] > 0 and np.isfinite(row["cosine_min"]), (encoder, backend)
    assert rows["text"]["ct2-fp32"]["cosine_min"] >= 0.999
    assert rows["text"]["ct2-int8"]["items_per_s"] > 0
    # CTranslate2 runs BERT-style encoders only, and says so for the others.
    for encoder in ("image", "clip_text", "clip_image"):
        assert "ct2-int8" not in rows[encoder]
        assert table["missing"][f"ct2-int8 {encoder}"]
    assert table["peer_versions"]["openvino"] != "not installed"
    assert table["rounds"] == 1 and table["few_samples"] is True
    # NNCF's int8 model is kept beside the ONNX files for the next run.
    assert list(tmp_path.glob("*-ov-nncf-*.xml"))
    path = consent_file()
    assert path is not None and path.read_text() == "0"


def test_a_runtime_not_installed_is_reported_not_fatal(
    make_settings: MakeSettings,
    sample_images: list[Image.Image],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    absent = {"openvino": "not installed", "ctranslate2": "not installed", "nncf": "not installed"}
    monkeypatch.setattr(peers, "peer_versions", lambda: absent)
    settings = make_settings(onnx_cache_dir=tmp_path)
    model_settings = settings.model_copy(update={"clip_model": ""})
    reference = __import__("worker.model", fromlist=["ModerationModel"]).ModerationModel.load(model_settings)
    runners, missing = peers.peer_runners(reference, {}, {}, tmp_path, bf16=False)
    assert runners == {}
    assert (
        missing["ov-int8"] == "openvino not installed" and missing["ct2-int8"] == "ctranslate2 not installed"
    )


@needs_openvino
def test_telemetry_is_declined_once_and_a_recorded_choice_is_kept(private_home: Path) -> None:
    path = consent_file()
    assert path is not None and private_home in path.parents and not path.exists()
    assert opt_out().startswith("declined (recorded now")
    assert path.read_text() == "0" and opt_out() == "declined"
    path.write_text("1")  # a user's own opt-in (`opt_in_out --opt_in`) is theirs to keep
    assert opt_out() == "accepted" and path.read_text() == "1"
