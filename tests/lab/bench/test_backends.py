"""The bench's side-by-side backend table, on the tiny models.

What depends on the CPU: torch-bf16 is in the table only with bf16 instructions
(AVX512-BF16 or AMX), and ONNX Runtime int8 takes signed weights with AVX512-VNNI or AMX and
unsigned ones elsewhere (signed ones saturate there: cosine 0.94-0.97 on the tiny CLIP text
tower), so every backend's agreement holds on every CPU (tests/model/test_emulated_cpu.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from moderation_lab.bench.backends import available_backends, compare_backends
from moderation_lab.bench.peaks import PRECISION_OF, gemm_peaks
from PIL import Image

from tests.training.conftest import MakeSettings
from worker.model.backends import ENCODERS


def test_every_encoder_on_every_backend_from_the_same_inputs(
    make_settings: MakeSettings, tiny_paths: dict[str, Path], sample_images: list[Image.Image], tmp_path: Path
) -> None:
    peaks = gemm_peaks(n=256, repeats=2)
    assert {"fp32", "int8"} <= peaks.keys() and all(v > 0 for v in peaks.values())
    texts = ["a post about the council", "bike lanes downtown", "ok", "a fourth, longer text here"]
    settings = make_settings(clip_model=str(tiny_paths["clip"]), onnx_cache_dir=tmp_path)
    result = compare_backends(settings, texts, sample_images, peaks, batch=2, runs=1)
    assert set(result["encoders"]) == set(ENCODERS)
    for encoder, rows in result["encoders"].items():
        assert list(rows) == available_backends()
        assert result["flops_per_item"][encoder] > 0
        for backend, row in rows.items():
            assert row["items_per_s"] > 0 and row["utilisation"] > 0, (encoder, backend)
            assert row["cosine_min"] >= 0.999, (encoder, backend)
            assert PRECISION_OF[backend] in peaks or PRECISION_OF[backend] == "bf16"
    assert result["encoders"]["text"]["torch-fp32"]["bias_score_abs_diff_max"] == pytest.approx(0.0, abs=1e-6)
    assert result["encoders"]["image"]["ort-fp32"]["bias_score_abs_diff_max"] <= 0.005
