"""Generated sample images and near-duplicates of them, for PDQ tests, the bench and the demo.

Never real media: each sample is drawn from a seed (shapes over a gradient), so the
hash banks of tests, bench and demo hold hashes of drawings only. The edits are those
a repost typically undergoes: resizing, JPEG re-encoding, a small crop, a brightness
change.

Example::

    image = sample_image(7)
    for name, copy in near_duplicates(image).items(): ...
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

__all__ = ["EDITS", "jpeg_bytes", "near_duplicates", "png_bytes", "sample_image"]


def sample_image(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A textured RGB drawing that depends only on ``seed`` (PDQ quality 100 in practice)."""
    rng = np.random.default_rng(seed)
    width, height = size
    ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(60, 200, 3)
    base = np.broadcast_to(ramp, (height, width, 3)) + rng.uniform(0, 55, 3)
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x0, y0 = int(rng.integers(-40, width)), int(rng.integers(-40, height))
        w, h = int(rng.integers(20, width // 2)), int(rng.integers(20, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x0 + w, y0 + h), fill=colour)
    return image


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _resized(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)


def _reencoded(image: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(jpeg_bytes(image, quality=60))).convert("RGB")


def _cropper(fraction: float) -> Callable[[Image.Image], Image.Image]:
    def crop(image: Image.Image) -> Image.Image:
        dx, dy = round(image.width * fraction), round(image.height * fraction)
        return image.crop((dx, dy, image.width - dx, image.height - dy))

    return crop


def _brighter(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(1.2)


#: The edits of :func:`near_duplicates`, by name.
EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resized 50%": _resized,
    "JPEG quality 60": _reencoded,
    # PDQ is known to be weak on crops: 1% a side stays within 31 bits, 2% often not.
    "cropped 1% a side": _cropper(0.01),
    "cropped 2% a side": _cropper(0.02),
    "brightness +20%": _brighter,
}


def near_duplicates(image: Image.Image) -> dict[str, Image.Image]:
    """Each edit of :data:`EDITS` applied to ``image``."""
    return {name: edit(image) for name, edit in EDITS.items()}
