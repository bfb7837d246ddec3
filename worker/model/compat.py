"""Make transformers usable in a worker: importable next to a CPU-only torch,
and quiet.

PyPI only carries CUDA builds of torchvision. Next to the CPU torch wheel its
compiled extension does not load, so ``import torchvision`` stops with
``operator torchvision::nms does not exist`` when its Python fake-kernel
registrations run. transformers 5.x imports torchvision for its image
processors, so every transformers import fails with it.

Defining the two operator *schemas* torchvision registers fakes for is enough
for the parts we use (transforms v2, the image processors); ``torchvision.ops``
kernels and ``torchvision.io`` decoding stay unusable, which is why images are
decoded with Pillow. The shim only runs when the real import fails: on a
machine with a working (CUDA) torchvision it does nothing.

transformers draws a "Loading weights" progress bar for every model it
loads (and huggingface_hub one per download): carriage-return redraws that
break the worker's one-line-per-event logs. :func:`silence_progress_bars`
turns them off for the process.

Example::

    from worker.model.compat import ensure_torchvision_importable, silence_progress_bars

    ensure_torchvision_importable()   # before any transformers import
    silence_progress_bars()
    import transformers
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

import torch

from worker.errors import ModelError

__all__ = ["ensure_torchvision_importable", "silence_progress_bars"]

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

_lock = threading.Lock()
_done = False
# torch removes a library's definitions when the Library object is collected,
# so the shim must hold on to it for the life of the process.
_library: object = None


def ensure_torchvision_importable() -> None:
    """Import torchvision, defining its missing operator schemas first if needed.

    Idempotent and thread-safe. Raises :class:`ModelError` when torchvision is
    installed but cannot be imported even with the shim.
    """
    global _done
    with _lock:
        if _done:
            return
        try:
            importlib.import_module("torchvision")
        except ImportError:
            pass  # not installed: transformers then simply does without it
        except RuntimeError as exc:
            if "torchvision::" not in str(exc):
                raise ModelError(f"torchvision cannot be imported: {exc}") from exc
            _import_with_schemas()
        _done = True


def _import_with_schemas() -> None:
    global _library
    # A failed import leaves its already-imported submodules behind; they were
    # built against the missing operators, so they are imported again.
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    make_library: Any = torch.library.Library  # not annotated in torch
    library = make_library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        library.define(schema)
    _library = library
    try:
        importlib.import_module("torchvision")
    except (ImportError, RuntimeError) as exc:
        raise ModelError(f"torchvision cannot be imported even with the shim: {exc}") from exc


def silence_progress_bars() -> None:
    """Turn off transformers' and huggingface_hub's progress bars for the process.

    Call after :func:`ensure_torchvision_importable`: it imports transformers.
    """
    hf_logging = importlib.import_module("transformers.utils.logging")
    hf_logging.disable_progress_bar()
