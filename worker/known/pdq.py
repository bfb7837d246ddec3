"""PDQ, Meta's 256-bit perceptual photo hash, on a decoded image.

Computed by ``pdqhash`` (Python bindings of Meta's reference C++ implementation).
A hash is kept as 32 bytes; its text form is the 64 hex digits hash-sharing
programmes exchange (bit 0 of the hash vector is the most significant bit, the
convention of the ``threatexchange`` library, which computes PDQ with ``pdqhash``
too). ``quality`` (0-100) says how much texture the image has: PDQ's authors
advise against matching hashes of quality under 50 (flat images hash alike).

Example::

    pdq = compute_pdq(decoded.image)      # CPU work: call it from a thread
    pdq.hex, pdq.quality                  # ('f8f8...', 100)
    distance(pdq, PdqHash.from_hex(other_hex))   # 0..256
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pdqhash
from PIL import Image

__all__ = ["HASH_BYTES", "PDQ_VERSION", "PdqHash", "compute_pdq", "distance", "parse_hex"]

HASH_BYTES: Final = 32
#: Names the hash algorithm and its text form in cache keys; bump if either changes.
PDQ_VERSION: Final = "pdq1"
#: The reference implementation hashes at most 512 x 512 pixels (it downsamples to
#: 64 x 64 anyway): larger images only cost time.
_MAX_SIDE: Final = 512


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A 256-bit PDQ hash and the quality of the image it came from."""

    digest: bytes
    quality: int

    def __post_init__(self) -> None:
        if len(self.digest) != HASH_BYTES:
            raise ValueError(f"a PDQ hash has {HASH_BYTES} bytes, got {len(self.digest)}")

    @property
    def hex(self) -> str:
        return self.digest.hex()

    @classmethod
    def from_hex(cls, text: str, quality: int = 100) -> PdqHash:
        return cls(parse_hex(text), quality)


def parse_hex(text: str) -> bytes:
    """The 32 bytes of a 64-hex-digit PDQ hash, or ``ValueError`` naming what is wrong."""
    text = text.strip().lower()
    if len(text) != 2 * HASH_BYTES:
        raise ValueError(f"a PDQ hash is {2 * HASH_BYTES} hex digits, got {len(text)}: {text[:80]!r}")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"not a hex PDQ hash: {text!r}") from exc


def distance(a: PdqHash | bytes, b: PdqHash | bytes) -> int:
    """Hamming distance between two hashes (number of differing bits)."""
    left = a.digest if isinstance(a, PdqHash) else a
    right = b.digest if isinstance(b, PdqHash) else b
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).bit_count()


def compute_pdq(image: Image.Image) -> PdqHash:
    """PDQ of an RGB image (any size; larger than 512 pixels a side is shrunk first)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > _MAX_SIDE:
        image = image.copy()
        image.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    vector, quality = pdqhash.compute(pixels)
    bits = np.asarray(vector, dtype=np.uint8)
    return PdqHash(np.packbits(bits).tobytes(), int(quality))
