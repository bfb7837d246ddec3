"""OpenVINO peers of the worker's backends: the worker's own ONNX export of each encoder,
read by OpenVINO's CPU plugin in fp32 (``ov-fp32``), in bf16 where the CPU has bf16
instructions (``ov-bf16``, OpenVINO's own default there), and quantized to int8 by NNCF's
post-training static quantization (``ov-int8``: activations calibrated on a few batches,
int8 matrix multiplies and convolutions on VNNI/AMX where present, the rest in fp32).

The int8 model is saved beside the ONNX files (OpenVINO IR, keyed by the ONNX file, the
calibration inputs and the recipe), so later runs skip the minute of calibration.
Telemetry is declined before OpenVINO is imported (:mod:`.telemetry`).

Example::

    runners = openvino_runners(graphs, cache_dir, calibration, bf16=True)
    runners["ov-int8"]["clip_image"](pixel_values)   # [N, 512] fp32 tensor
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from moderation_lab.bench.peers.telemetry import opt_out
from worker.model.backends import Encoder
from worker.model.graphs import EncoderGraph
from worker.model.onnx_export import onnx_file

__all__ = ["NNCF_RECIPE", "OpenVinoRunner", "openvino_runners"]

#: How ``ov-int8`` is made; part of the saved model's name.
NNCF_RECIPE = "nncf-static-int8-mixed"
#: Encoders NNCF quantizes as transformers (SmoothQuant, attention kept accurate).
_TRANSFORMERS = {"text", "clip_text", "clip_image"}

Batch = tuple[Tensor, ...]


class OpenVinoRunner:
    """A compiled OpenVINO model called like the worker's runners: tensors in, fp32 out."""

    def __init__(self, compiled: Any, inputs: Sequence[str], backend: str) -> None:
        self.compiled, self.inputs, self.backend = compiled, tuple(inputs), backend
        self.request = compiled.create_infer_request()

    def __call__(self, *inputs: Tensor) -> Tensor:
        feeds = {name: np.ascontiguousarray(t.numpy()) for name, t in zip(self.inputs, inputs, strict=True)}
        result = self.request.infer(feeds)
        return torch.from_numpy(np.array(result[self.compiled.output(0)], dtype=np.float32))


def _config(precision: str) -> dict[str, str]:
    # As the worker's ONNX Runtime sessions: one call at a time on torch's threads.
    return {
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(torch.get_num_threads()),
    }


def _calibration_key(batches: Sequence[Batch]) -> str:
    digest = hashlib.sha256()
    for batch in batches:
        for tensor in batch:
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:12]


def _int8_model(core: Any, source: Path, graph: EncoderGraph, calibration: Sequence[Batch]) -> Any:
    """NNCF's static int8 of the ONNX file, calibrated on ``calibration``, cached as IR."""
    import nncf
    import openvino as ov

    target = source.with_name(f"{source.stem}-ov-{NNCF_RECIPE}-{_calibration_key(calibration)}.xml")
    if target.is_file():
        return core.read_model(str(target))
    items = [dict(zip(graph.inputs, (t.numpy() for t in batch), strict=True)) for batch in calibration]
    model_type = nncf.ModelType.TRANSFORMER if graph.encoder in _TRANSFORMERS else None
    quantized = nncf.quantize(
        core.read_model(str(source)), nncf.Dataset(items), model_type=model_type, subset_size=len(items)
    )
    # Written under temporary names, the weights first: a reader finds the .xml only
    # when its .bin is complete.
    tmp = target.with_name(f".{target.stem}.tmp.xml")
    ov.save_model(quantized, str(tmp), compress_to_fp16=False)
    tmp.with_suffix(".bin").replace(target.with_suffix(".bin"))
    tmp.replace(target)
    return quantized


def openvino_runners(
    graphs: Mapping[Encoder, EncoderGraph],
    cache_dir: Path,
    calibration: Mapping[Encoder, Sequence[Batch]],
    *,
    bf16: bool,
) -> tuple[dict[str, dict[Encoder, Callable[..., Tensor]]], dict[str, str]]:
    """Runners per peer backend and encoder, and the peers left out with why."""
    telemetry = opt_out()
    import openvino as ov

    core = ov.Core()
    out: dict[str, dict[Encoder, Callable[..., Tensor]]] = {"ov-fp32": {}, "ov-int8": {}}
    skipped: dict[str, str] = {}
    if bf16:
        out["ov-bf16"] = {}
    if telemetry == "accepted":
        del out["ov-int8"]
        skipped["ov-int8"] = "NNCF not run: this user has opted in to OpenVINO telemetry, which NNCF sends"
    for encoder, graph in graphs.items():
        source = onnx_file(graph, cache_dir, int8=False)
        model = core.read_model(str(source))
        out["ov-fp32"][encoder] = OpenVinoRunner(
            core.compile_model(model, "CPU", _config("f32")), graph.inputs, "ov-fp32"
        )
        if "ov-bf16" in out:
            compiled = core.compile_model(model, "CPU", _config("bf16"))
            out["ov-bf16"][encoder] = OpenVinoRunner(compiled, graph.inputs, "ov-bf16")
        if "ov-int8" in out:
            quantized = _int8_model(core, source, graph, calibration[encoder])
            compiled = core.compile_model(quantized, "CPU", _config("f32"))
            out["ov-int8"][encoder] = OpenVinoRunner(compiled, graph.inputs, "ov-int8")
    return out, skipped
