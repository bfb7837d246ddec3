"""Streaming content-moderation worker: Kafka posts in, multimodal verdicts out."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
