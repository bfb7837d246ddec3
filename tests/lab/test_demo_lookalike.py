"""``make demo``'s hateful post spelt with look-alike letters is flagged (with the real data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moderation_lab.demo.categories import HATE_FOLDER, LOOKALIKE_POST, demo_categories, rude_posts
from moderation_lab.demo.data import find_data_dir

from worker.model.category_head import CategoryHead
from worker.model.types import PostFeatures
from worker.text.normalise import NORMALISER_ID

DATA = find_data_dir()


def test_the_post_is_among_the_demos_and_written_in_look_alikes() -> None:
    texts = [json.loads(post.value)["text"] for post in rude_posts()]
    assert LOOKALIKE_POST in texts
    assert not LOOKALIKE_POST.isascii()


@pytest.mark.skipif(
    DATA is None or not (DATA / "hate-offensive" / "train.csv").is_file(),
    reason="../shared/data/hate-offensive is not here",
)
def test_the_demo_head_flags_it_and_is_retrained_under_a_new_normaliser(tmp_path: Path) -> None:
    assert DATA is not None
    folder = tmp_path / HATE_FOLDER
    folder.mkdir()
    # a head from before the normaliser: the demo trains a new one
    (folder / "category.json").write_text(json.dumps({"normaliser": None}), encoding="utf-8")
    said: list[str] = []
    demo_categories(DATA, tmp_path, said.append)
    assert any("training" in line for line in said)
    head = CategoryHead.load(folder, {})
    assert head.config.normaliser == NORMALISER_ID
    [probs] = head.probabilities([PostFeatures(raw_text=LOOKALIKE_POST)])
    flagging = [i for i, c in enumerate(head.config.classes) if head.config.categories.get(c)]
    assert max(probs[i] for i in flagging) >= 0.5
