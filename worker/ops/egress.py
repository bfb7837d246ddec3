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
    offline_when_local([settings.text_encoder, settings.image_encoder])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Final

__all__ = ["NO_TELEMETRY", "OFFLINE", "offline_when_local", "quiet_telemetry"]

#: Environment variables that switch the libraries' own telemetry off.
NO_TELEMETRY: Final = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
#: Environment variables that keep Hugging Face libraries off the network.
OFFLINE: Final = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


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
        return False
    for name, value in OFFLINE.items():
        env.setdefault(name, value)
    return True
