"""Occlusion of image classifiers on a coarse grid: which regions drove the score.

Each of the ``grid x grid`` equal cells of an image is covered, in turn, with the
image's mean colour, and the category's logit drop is that cell's contribution. All
variants of all images asked for at once go through the classifier's batch call in
chunks of ``max_batch`` images: an image costs ``grid * grid + 1`` passes (a 4x4 grid 17,
an 8x8 grid 65).

Example::

    [maps] = explain_images([image], classifier.predict, {"nudity": 1}, grid=4)
    maps["nudity"].grid()          # 4 rows of 4 logit drops, top-left first
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageStat

from worker.explain.occlusion import logit
from worker.explain.spans import HeatMap
from worker.model.types import FloatArray

__all__ = ["ImageScores", "cell_box", "explain_images", "occluded_variants"]

#: A classifier's batch call: PIL images -> [N, labels] probabilities.
ImageScores = Callable[[Sequence[Image.Image]], FloatArray]


def cell_box(size: tuple[int, int], grid: int, row: int, col: int) -> tuple[int, int, int, int]:
    """Pixel box (left, top, right, bottom) of one cell; cells tile the image exactly."""
    width, height = size
    return (col * width // grid, row * height // grid, (col + 1) * width // grid, (row + 1) * height // grid)


def occluded_variants(image: Image.Image, grid: int) -> list[Image.Image]:
    """One copy of ``image`` per cell (row-major), that cell filled with the mean colour."""
    rgb = image.convert("RGB")
    fill = tuple(round(v) for v in ImageStat.Stat(rgb).mean)
    variants = []
    for row in range(grid):
        for col in range(grid):
            copy = rgb.copy()
            ImageDraw.Draw(copy).rectangle(cell_box(rgb.size, grid, row, col), fill=fill)
            variants.append(copy)
    return variants


def explain_images(
    images: Sequence[Image.Image],
    scores: ImageScores,
    columns: Mapping[str, int],
    grid: int = 4,
    max_batch: int = 32,
) -> list[dict[str, HeatMap]]:
    """Per image, a ``grid x grid`` heat map for each category in ``columns``."""
    if grid < 1:
        raise ValueError("a grid of at least 1x1")
    batch: list[Image.Image] = []
    for image in images:
        batch.append(image.convert("RGB"))
        batch.extend(occluded_variants(image, grid))
    starts = range(0, len(batch), max_batch)
    chunks = [np.asarray(scores(batch[i : i + max_batch]), np.float32) for i in starts]
    logits: FloatArray = logit(np.concatenate(chunks)) if chunks else np.zeros((0, 0), np.float32)
    per = grid * grid + 1
    found = []
    for n in range(len(images)):
        block = logits[n * per : (n + 1) * per]
        maps = {}
        for category, column in columns.items():
            drops = block[0, column] - block[1:, column]
            maps[category] = HeatMap(
                category, n, grid, grid, tuple(float(d) for d in drops), float(block[0, column])
            )
        found.append(maps)
    return found
