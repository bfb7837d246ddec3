"""The options the ``train`` and ``evaluate`` subcommands share, defined once so that each
means the same, and is spelt the same, wherever it appears.

Example::

    def evaluate_bias(heads: Heads, data: Data, out: Report, cache: Cache = "file") -> None: ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

__all__ = [
    "CACHE_DIR",
    "Cache",
    "CacheDir",
    "CheckpointImageEncoder",
    "CheckpointTextEncoder",
    "Cv",
    "Data",
    "Heads",
    "ImageEncoder",
    "Images",
    "LabelColumn",
    "Labels",
    "Links",
    "Out",
    "Png",
    "Pooling",
    "Report",
    "Seed",
    "TextColumn",
    "TextEncoder",
    "TrainCv",
    "TrainData",
    "Val",
]

CACHE_DIR = Path(".models/cache")

TrainData = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, metavar="DATA", help="The labelled training CSV.")
]
Val = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="Validation CSV (early stopping).")
]
Out = Annotated[Path, typer.Option(help="Folder to write the checkpoint into.")]
TextEncoder = Annotated[
    str | None,
    typer.Option(help="Hub id, folder or 'minilm'. Default: MODERATION_TEXT_ENCODER.", show_default=False),
]
ImageEncoder = Annotated[
    str | None,
    typer.Option(help="Hub id or folder. Default: MODERATION_IMAGE_ENCODER.", show_default=False),
]
#: ``evaluate``: the encoders recorded in the checkpoint, unless these say otherwise.
CheckpointTextEncoder = Annotated[
    str | None, typer.Option("--text-encoder", help="Hub id or folder. Default: the checkpoint's.")
]
CheckpointImageEncoder = Annotated[
    str | None, typer.Option("--image-encoder", help="Hub id or folder. Default: the checkpoint's.")
]
Pooling = Annotated[
    Literal["auto", "cls", "mean"], typer.Option(help="Text pooling; auto: mean for sentence-transformers.")
]
Links = Annotated[Literal["strip", "keep"], typer.Option(help="Posts' links, for the encoder.")]
Cache = Annotated[Literal["file", "redis", "none"], typer.Option(help="Where encoder outputs go.")]
CacheDir = Annotated[Path, typer.Option(help="File cache folder.")]
TextColumn = Annotated[str, typer.Option(help="The CSV's text column.")]
LabelColumn = Annotated[str, typer.Option(help="The CSV's label column.")]
Labels = Annotated[str, typer.Option(help='Label -> category, e.g. "1=bias,0=" (0: none).')]
Images = Annotated[bool, typer.Option(help="Fetch images (unusable ones are masked).")]
Seed = Annotated[int, typer.Option(help="Seed of everything random.")]
TrainCv = Annotated[int, typer.Option(help="CV folds on DATA first; 0: none.")]

Heads = Annotated[Path, typer.Option(exists=True, file_okay=False, help="Checkpoint folder (from train).")]
Data = Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Labelled CSV to score.")]
Report = Annotated[Path, typer.Option(help="JSON report to write.")]
Png = Annotated[
    Path | None, typer.Option(help="Confusion matrix PNG. Default: --out as .png.", show_default=False)
]
Cv = Annotated[int, typer.Option(help="Also cross-validate the recipe on --data, K folds.")]
