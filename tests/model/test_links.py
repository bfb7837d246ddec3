"""What the text encoder is shown of a post's links (heads.json ``text_links``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from worker.config.settings import Settings
from worker.model import ModerationModel
from worker.model import identity as ids
from worker.model.heads import HeadsConfig
from worker.model.links import encoder_text

MakeSettings = Callable[..., Settings]

TWEET = "Polls close at 8 tonight https://t.co/2IyM7GkxCs #vote https://t.co/UnzOaDQH7D"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (TWEET, "Polls close at 8 tonight #vote"),
        ("see http://example.org/a?b=c, then reply", "see then reply"),  # a link ends at a space
        ("no links here", "no links here"),
        ("  spaces\tkept when there is no link ", "  spaces\tkept when there is no link "),
        ("https://t.co/2IyM7GkxCs", "https://t.co/2IyM7GkxCs"),  # nothing else: shown as it is
        ("https://t.co/a https://t.co/b", "https://t.co/a https://t.co/b"),
        ("", ""),
    ],
)
def test_strip(text: str, shown: str) -> None:
    assert encoder_text(text, "strip") == shown
    assert encoder_text(text, "keep") == text


def _load(make_settings: MakeSettings, links: str) -> ModerationModel:
    return ModerationModel.load(make_settings(clip_model=""), fresh_heads=HeadsConfig(text_links=links))


def test_a_stripping_model_encodes_and_counts_the_text_without_links(make_settings: MakeSettings) -> None:
    strip, keep = _load(make_settings, "strip"), _load(make_settings, "keep")
    with_links, without = strip.encode_texts([TWEET, "Polls close at 8 tonight #vote"])
    np.testing.assert_array_equal(with_links, without)
    assert len(strip.tokenize(TWEET)) == len(strip.tokenize("Polls close at 8 tonight #vote"))
    assert len(keep.tokenize(TWEET)) > len(strip.tokenize(TWEET))
    assert not np.allclose(keep.encode_texts([TWEET])[0], with_links)
    # Batched with link-free texts, rows keep their order and values.
    batch = strip.encode_texts(["another post", TWEET])
    np.testing.assert_allclose(batch[1], with_links, atol=1e-5)


def test_only_stripping_changes_the_text_cache_id(
    make_settings: MakeSettings, tiny_model: ModerationModel
) -> None:
    strip, keep = _load(make_settings, "strip"), _load(make_settings, "keep")
    assert strip.encoder_ids["text"] != keep.encoder_ids["text"]
    assert strip.encoder_ids["image"] == keep.encoder_ids["image"]
    # "keep" (every checkpoint written before the option existed) keeps the id it always
    # had, so caches filled by earlier versions stay valid.
    tokenizer = ids.text_sha256([keep.tokenizer.backend_tokenizer.to_str()])
    precision = keep.backends["text"].removeprefix("torch-")  # a torch backend keeps the old key
    before = {"tokenizer": tokenizer, "max_tokens": 512, "feature": "cls", "precision": precision}
    assert keep.encoder_ids["text"] == ids.short_id(keep.identity.components["text_encoder"], before)
    assert keep.encoder_ids["text"] == tiny_model.encoder_ids["text"]


def test_the_checkpoint_carries_the_choice(make_settings: MakeSettings, tmp_path: Path) -> None:
    _load(make_settings, "strip").save_heads(tmp_path / "heads", name="stripping")
    assert json.loads((tmp_path / "heads" / "heads.json").read_text())["text_links"] == "strip"
    loaded = ModerationModel.load(make_settings(clip_model="", heads=tmp_path / "heads"))
    assert loaded.heads.text_links == "strip"
    assert len(loaded.tokenize(TWEET)) == len(loaded.tokenize("Polls close at 8 tonight #vote"))
    # A heads.json without the field (written before it existed) keeps the links.
    config = json.loads((tmp_path / "heads" / "heads.json").read_text())
    del config["text_links"]
    assert HeadsConfig.model_validate(config).text_links == "keep"
    with pytest.raises(ValueError, match="text_links"):
        HeadsConfig.model_validate({**config, "text_links": "shorten"})
