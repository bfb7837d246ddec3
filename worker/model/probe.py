"""The agreement probe's batch, and a candidate backend run on it beside torch fp32.

The batch is fixed and deterministic: :data:`PROBE_TEXTS` (tweets of 1 to ~60 tokens,
plain, with a link, with emoji and another script) and :func:`probe_images` (seeded
gradients and noise of four sizes, one greyscale). The model turns them into each
encoder's input tensors with its own tokenizers and processors; the sha256 of those
tensors is part of the probe's key, so another tokenizer or processor probes anew.

A candidate must leave the loaded fp32 weights as they are, for the next candidate: torch
int8 runs with quantized copies of the encoder's parts swapped in for the probe (the only
extra memory: one encoder's int8 copy, briefly), torch bf16 runs under autocast on the fp32
weights (the same outputs as the backend's weights cast once), ONNX Runtime on its files.
This, and the fp32 reference pass, are paid only when the result is not cached.

Example::

    prober = Prober(graphs, inputs, scorers, settings.onnx_cache_dir)
    backend, result = prober.choose("clip_text", ("ort-int8", "torch-bf16", "torch-fp32"))
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.metadata
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from worker.model.agreement import Agreement, ProbeCache, choose_agreeing, measure_agreement
from worker.model.backends import Backend, Encoder
from worker.model.cpu_features import cpu_features
from worker.model.graphs import EncoderGraph
from worker.model.identity import short_id
from worker.model.onnx_export import int8_recipe
from worker.model.precision import quantize_linear_int8
from worker.model.runners import TorchRunner, build_runners

__all__ = ["PROBE_TEXTS", "PROBE_VERSION", "Prober", "backend_recipe", "probe_images"]

#: Changes whenever the probe batch or the rule's inputs change, so old results are not reused.
PROBE_VERSION = "probe-v1"

PROBE_TEXTS: tuple[str, ...] = (
    "ok",
    "The city council voted 7-2 tonight to add protected bike lanes downtown.",
    "honestly the worst take i have read all week, these people never learn!!!",
    "New study: coffee drinkers live longer? Read more https://example.org/health/coffee-study",
    "Breaking: flooding closes the main bridge; officials urge residents to stay home 🌧️🚧",
    "Les élections municipales auront lieu en mars, selon le ministère de l'Intérieur.",
    "They want you to believe the numbers are fine. Ask yourself who profits from the silence "
    "and why every outlet ran the same story on the same day, word for word.",
    "#weekend vibes: 3 dogs, 1 beach, zero plans 🐶🐶🐶",
)


def probe_images() -> list[Image.Image]:
    """Four seeded images: gradients with noise at different sizes, the last greyscale."""
    rng = np.random.default_rng(20261207)
    images = []
    for height, width in ((224, 224), (180, 320), (96, 64), (300, 200)):
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x / width, y / height, (x + y) / (width + height)], axis=-1) * 200
        pixels = np.clip(base + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels))
    images[-1] = images[-1].convert("L")
    return images


def backend_recipe(backend: Backend) -> str:
    """How the backend computes, as far as agreement goes (part of the probe's key)."""
    if backend == "ort-int8":
        return int8_recipe()
    torch_recipes = {"torch-int8": "torch-dynamic-qint8-linear", "torch-bf16": "bf16-weights-autocast"}
    return torch_recipes.get(backend, "")


def _versions() -> dict[str, str]:
    found = {}
    for name in ("torch", "onnxruntime", "onnx"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def _tensors_sha256(tensors: Sequence[Tensor]) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Prober:
    """Chooses each encoder's backend among candidates by agreement on this machine.

    ``inputs`` are each encoder's probe tensors; ``scorers`` turn an encoder's probe
    features into bias scores (the text and image encoders), ``keys`` add what else the
    scores depend on (the heads' weights) to those encoders' probe keys.
    """

    def __init__(
        self,
        graphs: Mapping[Encoder, EncoderGraph],
        inputs: Mapping[Encoder, tuple[Tensor, ...]],
        scorers: Mapping[Encoder, Callable[[np.ndarray], np.ndarray]],
        keys: Mapping[Encoder, Mapping[str, object]],
        cache_dir: Path,
    ) -> None:
        self.graphs, self.inputs, self.scorers, self.keys = graphs, inputs, scorers, keys
        self.cache_dir = cache_dir
        self.cache = ProbeCache(cache_dir)
        self._references: dict[Encoder, np.ndarray] = {}

    def choose(self, encoder: Encoder, candidates: Sequence[Backend]) -> tuple[Backend, Agreement | None]:
        def key(backend: Backend) -> tuple[str, dict[str, object]]:
            return self.key(encoder, backend)

        def measure(backend: Backend) -> Agreement:
            return self.measure(encoder, backend)

        return choose_agreeing(encoder, candidates, key, measure, self.cache)

    def key(self, encoder: Encoder, backend: Backend) -> tuple[str, dict[str, object]]:
        graph = self.graphs[encoder]
        described: dict[str, object] = {
            "probe": PROBE_VERSION,
            "encoder": encoder,
            "graph": graph.describe,
            "inputs_sha256": _tensors_sha256(self.inputs[encoder]),
            "backend": backend,
            "recipe": backend_recipe(backend),
            "cpu": list(cpu_features()),
            "versions": _versions(),
            **self.keys.get(encoder, {}),
        }
        key = short_id(graph.weights_sha256, described)
        return key, {"weights_sha256": graph.weights_sha256, **described}

    def reference(self, encoder: Encoder) -> np.ndarray:
        """torch fp32 on the probe batch, computed once (the weights are still fp32)."""
        if encoder not in self._references:
            with torch.inference_mode():
                out = self.graphs[encoder].module(*self.inputs[encoder])
            self._references[encoder] = out.float().cpu().numpy()
        return self._references[encoder]

    def measure(self, encoder: Encoder, backend: Backend) -> Agreement:
        reference = self.reference(encoder)
        candidate = self.run(encoder, backend)
        score = self.scorers.get(encoder)
        if score is None:
            return measure_agreement(reference, candidate)
        return measure_agreement(reference, candidate, score(reference), score(candidate))

    def run(self, encoder: Encoder, backend: Backend) -> np.ndarray:
        """The candidate on the probe batch, leaving the loaded fp32 weights as they were."""
        graph = self.graphs[encoder]
        inputs = self.inputs[encoder]
        if backend == "torch-bf16":
            # Autocast on the fp32 weights computes what the backend's weights cast once
            # compute, bit for bit (tests/model/test_backends.py), without a copy.
            return TorchRunner(graph.module, backend)(*inputs).float().cpu().numpy()
        if backend == "torch-int8":
            with _quantized_copies(graph.parts):
                return TorchRunner(graph.module, backend)(*inputs).float().cpu().numpy()
        runner = build_runners({encoder: graph}, {encoder: backend}, self.cache_dir)[encoder]
        return runner(*inputs).float().cpu().numpy()


@contextlib.contextmanager
def _quantized_copies(parts: Sequence[tuple[nn.Module, str]]) -> Iterator[None]:
    """Each part swapped for a quantized copy of itself, and put back."""
    originals = [(parent, name, getattr(parent, name)) for parent, name in parts]
    try:
        for parent, name, part in originals:
            holder = nn.Module()
            holder.add_module("part", copy.deepcopy(part))
            quantize_linear_int8(holder)
            setattr(parent, name, holder.part)
        yield
    finally:
        for parent, name, part in originals:
            setattr(parent, name, part)
