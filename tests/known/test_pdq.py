"""PDQ hashes of generated images: text form, distances, quality, and robustness to edits."""

from __future__ import annotations

import pytest
from moderation_lab.samples import near_duplicates, sample_image
from PIL import Image

from worker.known.pdq import PdqHash, compute_pdq, distance, parse_hex


def test_hex_round_trips_and_bad_text_is_refused() -> None:
    pdq = compute_pdq(sample_image(1))
    assert len(pdq.hex) == 64 and PdqHash.from_hex(pdq.hex.upper(), pdq.quality) == pdq
    with pytest.raises(ValueError, match="64 hex digits"):
        parse_hex("ab" * 31)
    with pytest.raises(ValueError, match="not a hex"):
        parse_hex("zz" * 32)
    with pytest.raises(ValueError, match="32 bytes"):
        PdqHash(b"\x00" * 31, 100)


def test_distance_counts_differing_bits() -> None:
    a = PdqHash(bytes(32), 100)
    b = PdqHash(bytes([0b1011]) + bytes(30) + b"\x80", 100)
    assert distance(a, b) == 4 and distance(a, a) == 0 and distance(a.digest, b.digest) == 4


def test_the_same_pixels_hash_the_same_at_any_size_above_512() -> None:
    image = sample_image(3, size=(1600, 1200))
    assert compute_pdq(image) == compute_pdq(image.resize((512, 384), Image.Resampling.BILINEAR))


@pytest.mark.parametrize("seed", range(4))
def test_near_duplicates_match_and_other_samples_do_not(seed: int) -> None:
    original = compute_pdq(sample_image(seed))
    assert original.quality >= 50
    copies = near_duplicates(sample_image(seed))
    distances = {name: distance(original, compute_pdq(copy)) for name, copy in copies.items()}
    for name in ("resized 50%", "JPEG quality 60", "cropped 1% a side", "brightness +20%"):
        assert distances[name] <= 31, (name, distances)
    assert distance(original, compute_pdq(sample_image(seed + 100))) > 31


def test_a_flat_image_has_low_quality_so_it_is_not_matched() -> None:
    flat = compute_pdq(Image.new("RGB", (64, 64), (200, 10, 10)))
    assert flat.quality < 50
    tiny = compute_pdq(Image.new("RGB", (1, 1)))  # no crash on degenerate sizes
    assert tiny.quality == 0
