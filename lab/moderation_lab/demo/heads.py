"""Trained entailment heads for ``demo``: MiniLM and the reference tweet pairs, when both are here.

The first demo run on a machine with ``../shared/data`` and the packaged
all-MiniLM-L6-v2 trains the entailment head (text only, no cross-validation,
lexical trees included: about a minute on two cores) into ``.models/heads-minilm``;
later runs reuse it. The worker then reads MiniLM features and answers with the
trained head, so its entailment verdicts mean something. The bias head, the image
encoder and CLIP stay the tiny random ones.

Example::

    overrides = demo_heads(find_data_dir(), Path(".models/tiny"), print)
    stack.start_worker("worker", **overrides)      # {} without the data or MiniLM
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from worker.errors import ModelError

__all__ = ["HEADS_FOLDER", "demo_heads"]

log = logging.getLogger(__name__)

HEADS_FOLDER = "heads-minilm"


def demo_heads(data_dir: Path | None, tiny_dir: Path, say: Callable[[str], object]) -> dict[str, object]:
    """Worker settings for MiniLM and trained heads (training them once), or ``{}``."""
    from worker.training.runtime import MINILM, resolve_encoder

    if data_dir is None:
        return {}
    folder = data_dir / "multimodal-entailment"
    train_csv, val_csv = folder / "train_df.csv", folder / "val_df.csv"
    if not train_csv.is_file() or not val_csv.is_file():
        return {}
    try:
        text_encoder = resolve_encoder(MINILM)
    except ModelError as exc:
        say(f"entailment head stays untrained: {exc}")
        return {}
    out = tiny_dir.parent / HEADS_FOLDER
    if not (out / "heads.json").is_file():
        say(f"training the entailment head on {train_csv} into {out} (once, about a minute)")
        _train(text_encoder, tiny_dir / "image", (train_csv, val_csv), out)
    return {"text_encoder": text_encoder, "heads": out}


def _train(text_encoder: str, image_encoder: Path, csvs: tuple[Path, Path], out: Path) -> None:
    from worker.training.boost import BoostConfig
    from worker.training.fit import FitConfig
    from worker.training.record import TrainConfig
    from worker.training.runtime import auto_pooling, open_store, training_settings
    from worker.training.train import train

    settings = training_settings(text_encoder, str(image_encoder))
    config = TrainConfig(
        name=HEADS_FOLDER,
        text_pooling=auto_pooling(text_encoder),
        text_links="strip",
        fit=FitConfig(stop_on="head"),
        cv_folds=0,
        fetch_images=False,  # the dataset's image host is out of reach here
        lexical=BoostConfig(),
    )
    with open_store("file", out.parent / "cache", settings) as store:
        record = train(settings, config, out, store, entailment=csvs)
    log.info("demo heads trained in %.0f s", record.seconds.get("total", 0.0))
