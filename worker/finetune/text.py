"""The text a fine-tuned model reads: the worker's normaliser when it exists, else the text.

``worker.text.normalise`` (the evasion work) maps obfuscated text to what text models
read. Until it is installed, texts pass unchanged under the id ``identity``; either way
the id is saved in the recipe and is part of the served model's cache id.

Example::

    prepare(["Y0u are ＦＡＫＥ"])     # normalised texts
    normaliser_id()                 # e.g. "normalise/1" or "identity"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from functools import cache

__all__ = ["normaliser_id", "prepare"]


@cache
def _normaliser() -> tuple[str, Callable[[str], str] | None]:
    try:
        module = importlib.import_module("worker.text.normalise")
    except ImportError:
        return "identity", None
    normalise = module.normalise

    def text_of(text: str) -> str:
        return str(normalise(text).text)

    return str(module.NORMALISER_ID), text_of


def normaliser_id() -> str:
    return _normaliser()[0]


def prepare(texts: Sequence[str]) -> list[str]:
    """Each text as the model reads it."""
    _, normalise = _normaliser()
    return [normalise(t) for t in texts] if normalise else list(texts)
