"""Every readable post is moderated (docs/messages.md, "Readable"): bad image URLs, too many
of them, a long text or a malformed optional field never take a post out of moderation;
what was not used is named in its verdict."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from moderation_lab.schemas import schema_dir

from tests.support.fakes import FakeScorer
from tests.test_pipeline import SETTINGS, post, prometheus_value, run
from worker import names
from worker.config.settings import Settings

FORBIDDEN = [
    "javascript:alert(1)",
    "file:///etc/passwd",
    "data:image/png;base64,iVBORw0KGgo=",
    "gopher://example.org/1",
    "ftp://example.org/a.png",
    "dict://example.org:11211/stat",
    "not a url",
    "https://",
]


def verdict_schema() -> jsonschema.Draft202012Validator:
    schema = json.loads((schema_dir() / f"verdict.v{names.VERDICT_SCHEMA_VERSION}.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def only(publisher: Any, topic: str = "verdicts") -> dict[str, Any]:
    [found] = publisher.on(topic)
    verdict_schema().validate(found)
    assert not publisher.on("posts.dlq")
    return found  # type: ignore[no-any-return]


async def test_a_post_with_forbidden_image_urls_gets_a_verdict_with_its_text_scored() -> None:
    scorer = FakeScorer()
    urls = [*FORBIDDEN, "https://img.test/ok/40x30.png"]
    publisher, acked, _ = await run([post("p1", text="a hateful text", images=urls)], scorer)
    verdict = only(publisher)
    assert acked == [0]
    assert verdict["modalities"] == ["text", "image"]
    assert "a hateful text" in scorer.encoded_texts
    kinds = [(i["index"], i["status"], (i["error"] or {}).get("kind")) for i in verdict["images"]]
    assert kinds == [
        (0, "refused", "unsupported_scheme"),
        (1, "refused", "unsupported_scheme"),
        (2, "refused", "unsupported_scheme"),
        (3, "refused", "unsupported_scheme"),
        (4, "refused", "unsupported_scheme"),
        (5, "refused", "unsupported_scheme"),
        (6, "refused", "malformed_url"),
        (7, "refused", "malformed_url"),
        (8, "ok", None),  # junk before it never pushes a real image out
    ]
    assert "image:0:unsupported_scheme" in verdict["degraded"]
    assert "image:7:malformed_url" in verdict["degraded"]


async def test_urls_beyond_the_first_four_fetchable_are_refused_and_named() -> None:
    urls = [f"https://img.test/ok/{40 + n}x30.png" for n in range(6)]
    publisher, _, pipeline = await run([post("p1", images=urls)])
    verdict = only(publisher)
    statuses = [i["status"] for i in verdict["images"]]
    assert statuses == ["ok"] * 4 + ["refused"] * 2
    assert verdict["images"][4]["error"]["kind"] == "over_image_limit"
    assert {"image:4:over_image_limit", "image:5:over_image_limit"} <= set(verdict["degraded"])
    assert pipeline.stats.refused_urls["over_image_limit"] == 2
    assert prometheus_value(pipeline, "moderation_image_urls_refused_total", reason="over_image_limit") == 2


async def test_a_post_of_a_thousand_urls_gets_a_verdict_of_readable_size() -> None:
    urls = ["https://img.test/ok/40x30.png", *(["javascript:x"] * 999)]
    publisher, _, _ = await run([post("p1", images=urls)])
    verdict = only(publisher)
    assert len(verdict["images"]) == 32 and verdict["images_not_listed"] == 968


async def test_a_404_image_is_named_in_degraded() -> None:
    urls = ["https://img.test/ok/40x30.png", "https://img.test/missing"]
    publisher, _, pipeline = await run([post("p1", images=urls)])
    verdict = only(publisher)
    assert verdict["images"][1]["error"]["kind"] == "http_status"
    assert verdict["degraded"] == ["image:1:http_status"]
    assert pipeline.stats.degraded["image:http_status"] == 1


async def test_an_image_only_post_with_only_refused_urls_is_a_dead_letter_saying_why() -> None:
    publisher, _, _ = await run([post("p1", text="", images=["javascript:alert(1)"])])
    [letter] = publisher.on("posts.dlq")
    assert letter["error"]["kind"] == "no_usable_content"
    assert "unsupported_scheme" in letter["error"]["message"] or "scheme" in letter["error"]["message"]


class TailScorer(FakeScorer):
    """Bias 0.9 for a text that says 'hateful', else what the fake gives (0.5 at most)."""

    def score(self, posts: Any) -> Any:
        found = super().score(posts)
        return [
            type(s)(**{**s.__dict__, "bias_score": 0.9 if p.raw_text and "hateful" in p.raw_text else 0.1})
            for s, p in zip(found, posts, strict=True)
        ]


async def test_a_hateful_tail_is_scored_behind_a_long_harmless_head() -> None:
    settings = Settings(
        **{**SETTINGS.model_dump(), "text_window_chars": 200, "text_window_overlap_chars": 20}
    )
    text = "a harmless word " * 1000 + "and a hateful tail"  # 16 018 characters, 25 000 allowed before
    publisher, _, pipeline = await run([post("p1", text=text)], TailScorer(), settings=settings)
    verdict = only(publisher)
    coverage = verdict["text"]
    assert coverage["chars"] == len(text) and coverage["unscored"] is None
    assert len(coverage["windows"]) > 80
    last = coverage["windows"][-1]
    assert last["end"] == len(text)
    assert coverage["deciding_windows"]["bias"] == len(coverage["windows"]) - 1
    assert verdict["bias"]["score"] == 0.9
    assert pipeline.stats.windowed_texts == 1


async def test_what_lies_beyond_the_bound_is_named() -> None:
    settings = Settings(
        **{
            **SETTINGS.model_dump(),
            "text_window_chars": 100,
            "text_window_overlap_chars": 10,
            "text_bound_chars": 1000,
        }
    )
    text = "x " * 2000
    publisher, _, _ = await run([post("p1", text=text)], settings=settings)
    verdict = only(publisher)
    assert verdict["text"]["unscored"] == {"start": 1000, "end": 4000}
    assert verdict["text"]["windows"][-1]["end"] == 1000
    assert "text_beyond_bound" in verdict["degraded"]


async def test_a_short_text_is_one_window() -> None:
    publisher, _, _ = await run([post("p1", text="hello")])
    coverage = only(publisher)["text"]
    assert coverage["windows"] == [{"start": 0, "end": 5}]
    assert coverage["deciding_windows"] == {} and coverage["unscored"] is None


async def test_a_malformed_optional_field_is_ignored_and_named() -> None:
    value = json.loads(post("p1"))
    value["created_at"], value["lang"] = "yesterday", 7
    publisher, _, _ = await run([json.dumps(value).encode()])
    verdict = only(publisher)
    assert {"field_ignored:created_at", "field_ignored:lang"} <= set(verdict["degraded"])


async def test_an_untrained_bias_head_gives_no_label() -> None:
    scorer = FakeScorer()
    scorer.identity = scorer.identity.model_copy(update={"untrained": ["bias_head"]})
    publisher, _, _ = await run([post("p1")], scorer)
    bias = only(publisher)["bias"]
    assert bias["label"] is None and bias["untrained"] is True
