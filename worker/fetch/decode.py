"""Turning fetched bytes into an RGB image, refusing what is unsafe to decode.

Only a few common web formats are accepted, recognised by their leading bytes
(:func:`sniff_format`, never by the server's ``Content-Type``), and only the one
Pillow plugin for the recognised format is asked to parse them: every extra plugin
is more parser surface for untrusted bytes. The pixel count is read from the header
and checked before a single pixel is decompressed, so a tiny PNG that inflates to
gigabytes is refused cheaply.

JPEGs can be decoded smaller than they are stored: libjpeg scales by 1/2, 1/4 or
1/8 while it decodes (Pillow's ``draft``), far cheaper than decoding every pixel and
resizing afterwards. With ``min_side`` set, the smallest of those scales that keeps
*both* sides at or above ``min_side`` is used (a 1024 x 576 photo decodes at
512 x 288 for 224-pixel encoders, about 5x faster; a 4032 x 3024 phone photo at
504 x 378). The reported width and height stay those of the stored image.

Pillow has a guard of its own, ``Image.MAX_IMAGE_PIXELS`` (about 89 M pixels): it
raises ``DecompressionBombError`` above twice it while opening, which is caught here,
but between once and twice it only *warns* and would decode. The header check here
therefore refuses anything above the smaller of ``max_pixels`` and Pillow's limit,
reported like our own. Pillow's global is left alone (``None`` turns its guard off).

Example::

    decoded = decode_image(body, max_pixels=40_000_000)   # or raises NotAnImage
    decoded.image.mode == "RGB"
    small = decode_image(jpeg, max_pixels=40_000_000, min_side=224)
    small.image.size  # (512, 288) for a 1024 x 576 JPEG; small.width == 1024

This is CPU work: call it from a thread, not on the event loop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from worker.errors import NotAnImage

__all__ = ["ALLOWED_FORMATS", "SNIFF_BYTES", "DecodedImage", "decode_image", "sniff_format"]

ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
#: Bytes :func:`sniff_format` needs to recognise every allowed format.
SNIFF_BYTES = 12

_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """A decoded image in RGB, with the size and the format it was stored in.

    ``image`` may be smaller than ``width`` x ``height`` when a JPEG was decoded at a
    reduced scale (``min_side``).
    """

    image: Image.Image
    width: int
    height: int
    format: str


def sniff_format(head: bytes) -> str | None:
    """The allowed format whose signature ``head`` starts with, or ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    return None


def _too_many_pixels(max_pixels: int) -> NotAnImage:
    return NotAnImage(f"image refused: more than {max_pixels} pixels (decompression bomb guard)")


def _open_header(content: bytes, max_pixels: int) -> Image.Image:
    """Parse only the header; refuse unknown formats and oversized images."""
    fmt = sniff_format(content[:SNIFF_BYTES])
    if fmt is None:
        allowed = ", ".join(ALLOWED_FORMATS)
        raise NotAnImage(f"not an image in an allowed format ({allowed}): unknown leading bytes")
    try:
        image = Image.open(io.BytesIO(content), formats=[fmt])
    except _BOMB_ERRORS as exc:
        # Pillow's own guard (MAX_IMAGE_PIXELS) fired before ours could.
        raise _too_many_pixels(max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise NotAnImage(f"starts like {fmt} but is not a readable {fmt} image") from exc
    except Exception as exc:  # Pillow's header parsers raise many unrelated types
        raise NotAnImage(f"unreadable image header: {exc}") from exc
    width, height = image.size
    limit = max_pixels if Image.MAX_IMAGE_PIXELS is None else min(max_pixels, Image.MAX_IMAGE_PIXELS)
    if width * height > limit:
        image.close()
        raise _too_many_pixels(limit)
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)  # phone photos store rotation in EXIF
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Flatten onto white: dropping alpha would turn transparent areas black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(content: bytes, max_pixels: int, min_side: int = 0) -> DecodedImage:
    """Decode ``content`` (first frame of animations) to RGB or raise :class:`NotAnImage`.

    ``min_side`` > 0 lets a JPEG decode at a reduced scale whose sides both stay at or
    above it; other formats, and JPEGs already too small to reduce, decode in full.
    """
    image = _open_header(content, max_pixels)
    width, height = image.size
    try:
        fmt = str(image.format)
        if min_side > 0 and fmt == "JPEG":
            image.draft("RGB", (min_side, min_side))
        image.load()
        rgb = _to_rgb(image)
    except _BOMB_ERRORS as exc:  # e.g. a GIF frame larger than its header said
        raise _too_many_pixels(max_pixels) from exc
    except Exception as exc:  # truncated or corrupt data: OSError, ValueError, EOFError...
        raise NotAnImage(f"corrupt or truncated {image.format} image: {exc}") from exc
    finally:
        image.close()
    return DecodedImage(image=rgb, width=width, height=height, format=fmt)
