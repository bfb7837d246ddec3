"""ONNX files of the loaded encoders, in a local cache keyed by their weights' sha256.

An encoder is exported from the weights the worker loaded (never fetched), with
``torch.onnx.export(..., opset_version=17, dynamo=False)``; its int8 variant is
ONNX Runtime's dynamic quantization of that file's matrix multiplies (int8 weights, a
scale per output channel; activations quantized per batch), as torch's dynamic int8
quantizes its Linear layers. A scale per channel rather than per matrix kept the CLIP
text tower's embeddings at cosine >= 0.9993 with fp32 on 64 tweets (0.9988 without).
Convolutions and embedding lookups stay fp32: ONNX Runtime's ConvInteger took a tenth
of a ViT's time for its patch embedding, and ran a ResNet at a fifth of its fp32 speed.

The weights' type depends on the CPU (:func:`int8_recipe`). Signed int8 weights times
unsigned activations (U8S8) are exact where the CPU sums int8 products in 32 bits
(AVX512-VNNI, AMX); on x86-64 CPUs without VNNI, ONNX Runtime's U8S8 kernels add pairs of
products in 16 bits that saturate (its quantization documentation says so), and the tiny
CLIP text tower then agreed with fp32 at cosine 0.967 under an emulated Haswell. Of the
two remedies the documentation names, unsigned weights (U8U8) kept 0.9997 there and
reduced-range weights (7 bits) only 0.9990, below the 0.999 the agreement probe asks:
CPUs without VNNI take U8U8.
The file name carries a short id of the weights' sha256, the graph's description and
the int8 recipe, so new weights, another pooling or another recipe export anew and a
stale file can never be loaded. Files are written under a temporary name and
renamed, so two workers sharing the cache never read a half-written one.

Example::

    path = onnx_file(graph, Path("~/.cache/moderation-worker/onnx"), int8=True)
    path.name   # "clip_text-<id>-int8-dynamic-quint8-perchannel-matmul.onnx" without VNNI
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from worker.errors import ModelError
from worker.model.cpu_features import int8_sums_without_saturation
from worker.model.graphs import EncoderGraph
from worker.model.identity import short_id

__all__ = ["INT8_RECIPES", "OPSET", "int8_recipe", "onnx_file", "quantize_int8"]

log = logging.getLogger(__name__)

OPSET = 17
#: How an int8 file is quantized, by weight type; the recipe is part of its name and of the
#: encoder's cache ids (the signed one keeps the name it had before the choice existed).
INT8_RECIPES = {"qint8": "dynamic-qint8-perchannel-matmul", "quint8": "dynamic-quint8-perchannel-matmul"}


def int8_recipe() -> str:
    """The int8 recipe that keeps agreement on this CPU: signed weights where int8 sums
    do not saturate (AVX512-VNNI, AMX), unsigned weights elsewhere."""
    return INT8_RECIPES["qint8" if int8_sums_without_saturation() else "quint8"]


def onnx_file(graph: EncoderGraph, cache_dir: Path, *, int8: bool, recipe: str | None = None) -> Path:
    """The graph's ONNX file (fp32, or dynamically quantized int8 by ``recipe``, this
    CPU's :func:`int8_recipe` by default), exported if absent."""
    folder = cache_dir.expanduser()
    key = short_id(graph.weights_sha256, {"graph": graph.encoder, "opset": OPSET, **graph.describe})
    fp32 = folder / f"{graph.encoder}-{key}-fp32.onnx"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not fp32.is_file():
            _atomic(fp32, lambda tmp: _export(graph, tmp))
        if not int8:
            return fp32
        recipe = recipe or int8_recipe()
        if recipe not in INT8_RECIPES.values():
            raise ModelError(f"unknown int8 recipe {recipe!r} (one of {', '.join(INT8_RECIPES.values())})")
        quantized = folder / f"{graph.encoder}-{key}-int8-{recipe}.onnx"
        if not quantized.is_file():
            _atomic(quantized, lambda tmp: quantize_int8(fp32, tmp, recipe))
        return quantized
    except OSError as exc:
        raise ModelError(
            f"cannot write ONNX files of the {graph.encoder} encoder to {folder}: {exc}"
        ) from exc


def _export(graph: EncoderGraph, path: Path) -> None:
    log.info("exporting the %s encoder to ONNX (once per weights)", graph.encoder)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns about traced Python branches (pooling, dtype
        # checks): they are constant for one model, which the file's key covers.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                graph.module,
                graph.examples,
                str(path),
                input_names=list(graph.inputs),
                output_names=["features"],
                dynamic_axes=graph.dynamic_axes,
                opset_version=OPSET,
                dynamo=False,
            )
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ModelError(f"cannot export the {graph.encoder} encoder to ONNX: {exc}") from exc


def quantize_int8(source: Path, path: Path, recipe: str) -> None:
    """``source`` dynamically quantized to int8 by ``recipe`` (one of :data:`INT8_RECIPES`)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("quantizing %s to int8 (%s)", source.name, recipe)
    weights = QuantType.QInt8 if recipe == INT8_RECIPES["qint8"] else QuantType.QUInt8
    quiet = _QuietQuantizer()
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(
            str(source),
            str(path),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=weights,
        )
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"cannot quantize {source.name} to int8: {exc}") from exc
    finally:
        logging.getLogger().removeFilter(quiet)


class _QuietQuantizer(logging.Filter):
    """ONNX Runtime's quantizer logs on the root logger: a line of INFO per quantized node
    (45 of the 92 lines of a demo worker's log) and a warning per call advising shape
    pre-processing (without it, speed and agreement are what `make bench` reports). Both
    are dropped; its other warnings and errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        quantizer = f"onnxruntime{os.sep}quantization" in record.pathname
        if quantizer and record.levelno < logging.WARNING:
            return False
        return "pre-processing before quantization" not in record.getMessage()


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".onnx")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp's 0600 would hide the file from other users of the cache
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
