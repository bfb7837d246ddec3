"""An encoder on its backend: a call from input tensors to fp32 features.

Example::

    runners = build_runners(graphs, {"text": "torch-int8", "clip_image": "ort-int8"}, cache_dir)
    features = runners["text"](input_ids, attention_mask)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from worker.errors import ModelError
from worker.model.backends import Backend, Encoder
from worker.model.graphs import EncoderGraph
from worker.model.onnx_export import onnx_file
from worker.model.precision import quantize_linear_int8

__all__ = ["OrtRunner", "Runner", "TorchRunner", "build_runners"]


class Runner(Protocol):
    backend: Backend

    def __call__(self, *inputs: Tensor) -> Tensor: ...


class TorchRunner:
    """The graph's module in torch; ``torch-bf16`` runs it under CPU bf16 autocast."""

    def __init__(self, module: nn.Module, backend: Backend) -> None:
        self.module, self.backend = module, backend

    def __call__(self, *inputs: Tensor) -> Tensor:
        with torch.inference_mode():
            if self.backend == "torch-bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out: Tensor = self.module(*inputs)
            else:
                out = self.module(*inputs)
        return out.float()


class OrtRunner:
    """The graph's ONNX file in an ONNX Runtime session, all graph optimisations on."""

    def __init__(self, path: Path, inputs: Sequence[str], backend: Backend) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # As many threads as torch uses, so settings.torch_threads governs both.
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Its threads would otherwise spin after every run, taking the cores from the next
        # encoder (torch's, or another session's): a post alone ran in 134 ms instead of 202.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session: Any = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            raise ModelError(f"ONNX Runtime cannot load {path.name}: {exc}") from exc
        self.inputs, self.backend = tuple(inputs), backend

    def __call__(self, *inputs: Tensor) -> Tensor:
        feeds = {
            name: np.ascontiguousarray(t.detach().cpu().numpy())
            for name, t in zip(self.inputs, inputs, strict=True)
        }
        try:
            [out] = self.session.run(["features"], feeds)
        except Exception as exc:  # e.g. onnxruntime's RuntimeException on a bad shape
            raise RuntimeError(f"ONNX Runtime failed: {exc}") from exc
        return torch.from_numpy(np.asarray(out, dtype=np.float32))


def build_runners(
    graphs: Mapping[Encoder, EncoderGraph], backends: Mapping[Encoder, Backend], cache_dir: Path
) -> dict[Encoder, Runner]:
    """A runner per graph. ONNX files are exported first, while every weight is still
    fp32: torch int8 quantizes the loaded modules in place."""
    runners: dict[Encoder, Runner] = {}
    for encoder, graph in graphs.items():
        backend = backends[encoder]
        if backend in ("ort-fp32", "ort-int8"):
            path = onnx_file(graph, cache_dir, int8=backend == "ort-int8")
            runners[encoder] = OrtRunner(path, graph.inputs, backend)
    for encoder, graph in graphs.items():
        backend = backends[encoder]
        if backend == "torch-int8":
            for parent, name in graph.parts:
                _quantize_part(parent, name)
        if backend == "torch-fp16":
            for parent, name in graph.parts:
                getattr(parent, name).half()
        if backend == "torch-bf16":
            for parent, name in graph.parts:
                _weights_to_bf16(getattr(parent, name))
        if backend.startswith("torch-"):
            runners[encoder] = TorchRunner(graph.module, backend)
    return runners


def _weights_to_bf16(part: nn.Module) -> None:
    """Linear and convolution weights in bf16 once, as autocast would cast them on every
    call (CLIP's text tower spent 15 ms a call on it, a third of a batch of 8). Norms stay
    fp32, as autocast runs them; the embeddings are the same, bit for bit."""
    for module in part.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            module.to(torch.bfloat16)


def _quantize_part(parent: nn.Module, name: str) -> None:
    # quantize_dynamic swaps children only: a bare Linear is wrapped so it is a child too.
    holder = nn.Module()
    holder.add_module("part", getattr(parent, name))
    quantize_linear_int8(holder)
    setattr(parent, name, holder.part)
