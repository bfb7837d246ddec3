"""ONNX files exported ahead of time, for images whose root file system is read-only.

The worker exports its encoders to ONNX when it first loads them (see
:mod:`worker.model.onnx_export`), into ``MODERATION_ONNX_CACHE_DIR``. A pod whose root
file system is read-only can still write an emptyDir volume there, but every new pod
would spend its start exporting. ``python -m worker.model.onnx_bake DIR`` runs at image
build time instead: it loads the models the environment names (``MODERATION_TEXT_ENCODER``,
...) and writes into ``DIR`` every file the ``auto`` backends may load on any CPU kind
(every backend of both rows of :data:`~worker.model.backends.RECORDED`: with and without
bf16), fp32 and int8 in both int8 recipes (signed weights for CPUs with VNNI, unsigned for
the others), so that whichever CPU a pod lands on finds its files there. It then loads the
models as the environment sets them, so the agreement probes of the build machine's CPU
kind are recorded beside the files (``agreement-probes.json``): a pod on that CPU kind
probes nothing, one on another probes once at start. The files are keyed by the weights'
sha256, the probes by the weights, the CPU's instruction sets and the libraries' versions,
so a cache seeded from them is never stale.

Example (the Dockerfile's baked stage)::

    python -m worker.model.onnx_bake /models/onnx
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from worker.config.settings import Settings
from worker.errors import ModerationError
from worker.model.backends import ENCODERS, RECORDED, Backend, Encoder
from worker.model.moderation import ModerationModel
from worker.model.onnx_export import INT8_RECIPES, onnx_file

__all__ = ["bake", "baked_backends", "main"]

log = logging.getLogger(__name__)


def baked_backends() -> dict[Encoder, Backend]:
    """Per encoder, the backend whose loading exports every file ``auto`` may need.

    ``ort-int8`` exports the fp32 file too (it is quantized from it); an encoder that
    runs on torch on every CPU kind needs no file and loads as ``torch-fp32``.
    """
    chosen: dict[Encoder, Backend] = {}
    for encoder in ENCODERS:
        recorded = {backend for row in RECORDED.values() for backend in row[encoder]}
        if "ort-int8" in recorded:
            chosen[encoder] = "ort-int8"
        elif "ort-fp32" in recorded:
            chosen[encoder] = "ort-fp32"
        else:
            chosen[encoder] = "torch-fp32"
    return chosen


def bake(settings: Settings, folder: Path) -> list[Path]:
    """Export the ONNX files of the models ``settings`` names into ``folder``."""
    baked = baked_backends()
    update: dict[str, object] = {f"{encoder}_backend": b for encoder, b in baked.items()}
    update |= {"onnx_cache_dir": folder, "device": "cpu"}
    model = ModerationModel.load(settings.model_copy(update=update))
    for encoder, graph in model.encoder_graphs().items():
        if baked[encoder] == "ort-int8":  # this CPU's recipe is written; the other one too
            for recipe in INT8_RECIPES.values():
                onnx_file(graph, folder, int8=True, recipe=recipe)
    ModerationModel.load(settings.model_copy(update={"onnx_cache_dir": folder, "device": "cpu"}))
    return sorted(folder.expanduser().glob("*.onnx"))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m worker.model.onnx_bake DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        files = bake(Settings(), Path(args[0]))
    except ModerationError as exc:
        print(f"onnx_bake: {exc}", file=sys.stderr)
        return 1
    for path in files:
        print(f"{path.stat().st_size:>12} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
