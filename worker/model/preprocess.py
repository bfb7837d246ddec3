"""Turning texts and images into encoder inputs: the card's image transform,
length bucketing and padding of token ids.

Example::

    processor = card_image_processor(224)
    for group, input_ids, mask in padded_groups(token_ids, pad_id=0):
        features[group] = encoder(input_ids, mask)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from transformers import AutoImageProcessor, ViTImageProcessor

__all__ = [
    "CARD_IMAGE_SIDE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "card_image_processor",
    "input_side",
    "length_buckets",
    "pad",
    "padded_groups",
    "resnet_processor",
    "rgb",
]

log = logging.getLogger(__name__)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
#: The card resizes every image to a 224 x 224 square.
CARD_IMAGE_SIDE = 224


def card_image_processor(side: int = CARD_IMAGE_SIDE) -> Any:
    """The card's image transform: resize straight to a ``side`` square, ImageNet mean/std."""
    return ViTImageProcessor(
        do_resize=True,
        size={"height": side, "width": side},
        resample=Image.Resampling.BILINEAR,
        do_rescale=True,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )


def resnet_processor(id_or_path: str) -> Any:
    """:func:`card_image_processor` at the side of the encoder's saved processor.

    The side comes from the encoder's saved processor (224 for resnet-34, whose
    processor would otherwise resize-and-crop); the card always normalises with
    ImageNet statistics, which HF processors do not default to.
    """
    try:
        size = AutoImageProcessor.from_pretrained(id_or_path).size  # type: ignore[no-untyped-call]
        side = int(size.get("height") or size.get("shortest_edge") or CARD_IMAGE_SIDE)
    except (OSError, ValueError, KeyError, AttributeError):
        log.warning("no image processor config for %r; resizing to %d", id_or_path, CARD_IMAGE_SIDE)
        side = CARD_IMAGE_SIDE
    return card_image_processor(side)


def input_side(processor: Any) -> int:
    """The largest side, in pixels, that an HF image processor resizes or crops to."""
    sides = [0]
    for name in ("size", "crop_size"):
        spec = getattr(processor, name, None)  # a dict, or transformers' SizeDict
        for key in ("height", "width", "shortest_edge"):
            value = spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)
            if value:
                sides.append(int(value))
    return max(sides)


def length_buckets(lengths: Sequence[int], *, max_items: int = 64, max_waste: float = 0.2) -> list[list[int]]:
    """Group indices by length so each group pads little.

    Indices are visited shortest first; a group closes when it holds ``max_items``
    or when adding the next (longest so far) would make more than ``max_waste`` of
    the padded group padding. At 0.2, batches of tweets (19 to 124 tokens) ran BERT-base
    30% faster than at 0.5 (one group per batch, 40% padding) and 10% faster than at 0
    (a call per length): one more call costs less than the padding it saves.
    """
    groups: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        size = lengths[i]
        padded = (len(current) + 1) * size
        if current and (len(current) >= max_items or 1 - (real + size) / padded > max_waste):
            groups.append(current)
            current, real = [], 0
        current.append(i)
        real += size
    if current:
        groups.append(current)
    return groups


def pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad to the longest row of *this* batch (never to the model's maximum)."""
    longest = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for n, row in enumerate(rows):
        input_ids[n, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[n, : len(row)] = 1
    return input_ids, mask


def padded_groups(rows: Sequence[Sequence[int]], pad_id: int) -> Iterator[tuple[list[int], Tensor, Tensor]]:
    """(indices, input ids, attention mask) of each :func:`length_buckets` group of
    ``rows``, padded with ``pad_id`` to the group's longest row."""
    for group in length_buckets([len(row) for row in rows]):
        input_ids, mask = pad([rows[i] for i in group], pad_id)
        yield group, input_ids, mask


def rgb(images: Sequence[Image.Image]) -> list[Image.Image]:
    """Images in RGB, converting only those that are not."""
    return [image if image.mode == "RGB" else image.convert("RGB") for image in images]
