"""The build-time ONNX export covers every file the ``auto`` backends may load."""

from __future__ import annotations

from worker.model.backends import RECORDED
from worker.model.onnx_bake import baked_backends, main


def test_every_onnx_backend_a_cpu_kind_may_choose_is_exported() -> None:
    baked = baked_backends()
    for row in RECORDED.values():
        for encoder, order in row.items():
            if "ort-int8" in order:
                assert baked[encoder] == "ort-int8"
            elif "ort-fp32" in order:  # written by ort-int8 too (quantized from it)
                assert baked[encoder] in ("ort-fp32", "ort-int8")
    assert set(baked) == {"text", "image", "clip_text", "clip_image"}


def test_it_needs_exactly_one_folder() -> None:
    assert main([]) == 2
    assert main(["a", "b"]) == 2
