"""No outbound call but those configured: the libraries' own telemetry is switched off.

A worker that handles user content talks to its broker, its Redis, the image hosts posts
name and, only when a model is named by its hub id, that hub. Libraries it loads would do
more on their own:

* ONNX Runtime's Python wheels carry Microsoft's 1DS telemetry in the native library: it
  keeps a device id and an event store under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime``
  from the first session on and sends events to ``mobile.events.data.microsoft.com``. The
  native library reads ``ORT_DISABLE_TELEMETRY`` when it starts: with it nothing is written
  and nothing is sent. (``onnxruntime.disable_telemetry_events()``, the Python call, comes
  too late: the store is opened when the library starts, measured with ONNX Runtime 1.32.)
* Hugging Face Hub sends usage pings unless ``HF_HUB_DISABLE_TELEMETRY`` is set, and asks
  the hub about every model it loads unless ``HF_HUB_OFFLINE`` is set: with every model a
  local folder, the worker sets it, so nothing reaches the hub.
* ``DO_NOT_TRACK`` is the common opt-out other libraries honour.

Every variable is set only when the environment does not set it already, and before the
libraries are imported (they read it once, at import).

Example::

    quiet_telemetry()                                  # first thing in the command line
    offline_when_local(model_sources(settings))        # before transformers is imported
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from worker.config.settings import Settings

__all__ = ["NO_TELEMETRY", "OFFLINE", "model_sources", "offline_when_local", "quiet_telemetry"]

#: Environment variables that switch the libraries' own telemetry off.
NO_TELEMETRY: Final = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
#: Environment variables that keep Hugging Face libraries off the network.
OFFLINE: Final = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

# Offline variables this module set (never those the environment gave).
_set_here: set[str] = set()


def quiet_telemetry(environ: MutableMapping[str, str] | None = None) -> None:
    """Switch off every library's telemetry this process may load (the environment wins)."""
    env = os.environ if environ is None else environ
    for name, value in NO_TELEMETRY.items():
        env.setdefault(name, value)


def offline_when_local(
    models: Iterable[str | Path | None], environ: MutableMapping[str, str] | None = None
) -> bool:
    """Keep Hugging Face libraries off the network when every model named is a local folder
    or file.

    A model named by a hub id is configured egress: it is downloaded from the hub the user
    named, so nothing is changed then. Returns whether offline mode was set.
    """
    env = os.environ if environ is None else environ
    named = [str(model) for model in models if model]
    if not named or not all(Path(model).expanduser().exists() for model in named):
        # Decided again once overrides (--set) are known: undo what this module set only.
        for name in [name for name in _set_here if name in OFFLINE]:
            if env.get(name) == OFFLINE[name]:
                del env[name]
            _set_here.discard(name)
        return False
    for name, value in OFFLINE.items():
        if name not in env:
            env[name] = value
            _set_here.add(name)
    return True


def model_sources(settings: Settings) -> list[str | Path | None]:
    """Every model the settings name: encoders, CLIP, heads and added classifiers."""
    models: list[str | Path | None] = [settings.text_encoder, settings.image_encoder, settings.clip_model]
    models.append(settings.heads)
    return [*models, *(spec.source for spec in settings.classifiers)]
