"""No decision from an untrained part: every category, one part at a time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.fakes import IDENTITY, FakeScorer
from tests.test_pipeline import SETTINGS, post, run
from worker.config.settings import Settings
from worker.model.heads import HeadsConfig
from worker.model.untrained import UNTRAINED_MARKER, untrained_parts, warn_untrained

# Text of length 12 and a 40-pixel-wide image: the fake scores bias 0.5, the inline
# reference contradicts at 0.7 and CLIP says 'weapons' at 0.6, so all three flag (CLIP
# once a threshold is chosen for its labels: without one they only score).
REFERENCE = {"relation": "quote", "id": "r1", "text": "the other post", "image_urls": []}
IMAGE = "https://img.test/ok/40x30.png"
REASONS = {"bias": "bias: ", "contradiction": "contradiction: ", "clip": "clip:weapons: "}


async def verdict_with_untrained(parts: list[str]) -> dict[str, object]:
    scorer = FakeScorer()
    scorer.identity = IDENTITY.model_copy(update={"untrained": parts})  # type: ignore[misc]
    publisher, _, _ = await run(
        [post("p1", text="hello world!", images=[IMAGE], reference=REFERENCE)],
        scorer,
        settings=SETTINGS.model_copy(update={"clip_flag_threshold": 0.5}),
    )
    [verdict] = publisher.on("verdicts")
    return verdict


def categories_flagged(verdict: dict[str, object]) -> set[str]:
    reasons = verdict["flag_reasons"]
    assert isinstance(reasons, list)
    return {name for name, text in REASONS.items() if any(text in r for r in reasons)}


async def test_with_every_part_trained_all_three_categories_flag() -> None:
    verdict = await verdict_with_untrained([])
    assert categories_flagged(verdict) == {"bias", "contradiction", "clip"} and verdict["flagged"]


@pytest.mark.parametrize(
    ("untrained", "still_flagging"),
    [
        (["bias_head"], {"contradiction", "clip"}),
        (["entailment_head"], {"bias", "clip"}),
        (["clip"], {"bias", "contradiction"}),
        (["text_encoder"], {"clip"}),  # bias and entailment read the text
        (["image_encoder"], {"clip"}),  # the post's image reached both heads
        (["bias_head", "clip", "entailment_head"], set()),
    ],
)
async def test_a_category_never_flags_from_an_untrained_part(
    untrained: list[str], still_flagging: set[str]
) -> None:
    verdict = await verdict_with_untrained(untrained)
    assert categories_flagged(verdict) == still_flagging
    assert verdict["flagged"] == bool(still_flagging)
    model = verdict["model"]
    assert isinstance(model, dict) and model["untrained"] == untrained
    # Still scored and published, marked, and never True in the categories map
    categories, scores = verdict["categories"], verdict["category_scores"]
    assert isinstance(categories, dict) and isinstance(scores, dict)
    assert set(scores) == {"bias", "contradiction", "clip:weapons", "clip:an ordinary everyday photo"}
    untrained_categories = verdict["untrained_categories"]
    assert isinstance(untrained_categories, list)
    assert not any(categories[name] for name in untrained_categories)


def test_parts_are_untrained_without_heads_or_with_the_marker(tmp_path: Path) -> None:
    for name in ("text", "image", "clip"):
        (tmp_path / name).mkdir()
    (tmp_path / "image" / UNTRAINED_MARKER).write_text("random")
    settings = Settings(
        text_encoder=str(tmp_path / "text"),
        image_encoder=str(tmp_path / "image"),
        clip_model=str(tmp_path / "clip"),
    )
    assert untrained_parts(settings, HeadsConfig()) == ["bias_head", "entailment_head", "image_encoder"]
    with_heads = settings.model_copy(update={"heads": tmp_path})
    assert untrained_parts(with_heads, HeadsConfig(trained=("entailment",))) == ["bias_head", "image_encoder"]
    # heads.json written before it listed its trained heads: both are presumed trained
    assert untrained_parts(with_heads, HeadsConfig()) == ["image_encoder"]


def test_startup_warns_once_naming_each_untrained_part(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        warn_untrained(["clip", "bias_head"])
        warn_untrained([])
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "bias_head, clip" in record.getMessage()
