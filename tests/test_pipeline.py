"""The pipeline end to end with fakes: verdicts, dead letters, acks, failures."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import pytest
from moderation_lab.embedded.ports import free_port
from prometheus_client import generate_latest

from tests.support.fakes import FakePublisher, FakeScorer, image_transport
from worker.config.settings import Settings
from worker.consume.intake import InputRecord
from worker.errors import ModelError
from worker.explain.stage import ExplainStage
from worker.fetch.client import ImageFetcher
from worker.inference.cache import EmbeddingCache
from worker.model.types import PostFeatures, PostScores
from worker.ops.logs import Throttle, cache_warnings
from worker.pipeline import Pipeline
from worker.shadow import Shadow

SETTINGS = Settings(max_batch=4, max_wait_ms=5, allow_private_hosts=True)


async def public_resolver(host: str) -> list[str]:
    return ["93.184.216.34"]


def post(post_id: str, text: str = "hello world", images: list[str] | None = None, **extra: Any) -> bytes:
    body = {
        "id": post_id,
        "text": text,
        "image_urls": images or [],
        "author_id": "a",
        "created_at": "2026-11-20T12:00:00Z",
        **extra,
    }
    return json.dumps(body).encode()


def record(offset: int, value: bytes, partition: int = 0) -> InputRecord:
    return InputRecord("posts", partition, offset, 1_700_000_000_000 + offset, b"k", value)


async def run(
    values: list[bytes],
    scorer: FakeScorer | None = None,
    publisher: FakePublisher | None = None,
    cache: EmbeddingCache | None = None,
    settings: Settings = SETTINGS,
    explainer: ExplainStage | None = None,
) -> tuple[FakePublisher, list[int], Pipeline]:
    scorer = scorer or FakeScorer()
    publisher = publisher or FakePublisher()
    client = httpx.AsyncClient(transport=image_transport())
    fetcher = ImageFetcher(settings.fetch, client, resolver=public_resolver)
    pipeline = Pipeline(settings, scorer, fetcher, cache, publisher, explainer=explainer)
    acked: list[int] = []
    await pipeline.start()
    for offset, value in enumerate(values):
        await pipeline.submit(record(offset, value), ack=lambda o=offset: acked.append(o))
    for _ in range(500):
        if len(acked) == len(values):
            break
        await asyncio.sleep(0.01)
    await pipeline.stop()
    await fetcher.aclose()
    await client.aclose()
    return publisher, acked, pipeline


async def test_every_record_ends_as_a_verdict_or_a_dead_letter_acked_in_order() -> None:
    values = [post(f"p{i}") for i in range(10)] + [
        b"{broken",
        post("p10", images=["https://img.test/ok/40x30.png"]),
    ]
    publisher, acked, pipeline = await run(values)
    verdicts = publisher.on("verdicts")
    assert sorted(v["post_id"] for v in verdicts) == sorted(f"p{i}" for i in range(11))
    [dead] = publisher.on("posts.dlq")
    assert dead["error"]["kind"] == "invalid_json" and dead["source"]["offset"] == 10
    assert acked == list(range(12))
    assert pipeline.stats.consumed == 12 and pipeline.stats.verdicts == 11


async def test_images_per_image_outcomes_and_clip_flags() -> None:
    urls = ["https://img.test/ok/40x30.png", "https://img.test/missing", "https://img.test/ok/41x30.png"]
    # CLIP labels flag only once a threshold is chosen for them (worker.verdicts.policy).
    chosen = SETTINGS.model_copy(update={"clip_flag_threshold": 0.5})
    publisher, _, _ = await run([post("p1", images=urls)], settings=chosen)
    [verdict] = publisher.on("verdicts")
    assert [i["status"] for i in verdict["images"]] == ["ok", "error", "ok"]
    assert verdict["images"][1]["error"]["kind"] == "http_status"
    assert verdict["modalities"] == ["text", "image"]
    assert len(verdict["bias"]["image_scores"]) == 2
    assert verdict["clip"]["top_label"] == "weapons"
    assert verdict["flagged"] and any("weapons" in r for r in verdict["flag_reasons"])
    assert publisher.on("verdicts.flagged") == [verdict]


async def test_inline_reference_is_scored_and_by_id_without_cache_is_unavailable() -> None:
    inline = {"relation": "claim", "id": "r1", "text": "the other post", "image_urls": []}
    by_id = {"relation": "reply", "id": "r1"}
    scorer = FakeScorer()
    publisher, _, _ = await run([post("p1", reference=inline), post("p2", reference=by_id)], scorer)
    verdicts = {v["post_id"]: v for v in publisher.on("verdicts")}
    assert verdicts["p1"]["entailment"]["status"] == "scored"
    # The texts as written reach the model too (the entailment head's lexical trees read them).
    [scored] = [p for p in scorer.scored if p.reference is not None]
    assert scored.raw_text == "hello world" and scored.reference.raw_text == "the other post"
    assert verdicts["p1"]["entailment"]["label"] == "Contradictory"
    assert verdicts["p2"]["entailment"]["status"] == "reference_unavailable"


async def test_with_redis_down_verdicts_say_degraded_and_its_warnings_are_throttled(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_warnings, "_last", {})
    # Nothing listens on this port: every Redis call fails at once with "connection refused".
    cache = EmbeddingCache.from_settings(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    inline = {"relation": "claim", "id": "r1", "text": "the other post", "image_urls": []}
    values = [post(f"p{i}", text=f"post {i}", reference=inline) for i in range(12)]
    with caplog.at_level("WARNING"):
        publisher, acked, pipeline = await run(values, cache=cache)
    await cache.aclose()
    verdicts = publisher.on("verdicts")
    assert len(verdicts) == 12 and acked == list(range(12))
    assert all(v["degraded"] == ["cache_unavailable"] for v in verdicts)
    assert pipeline.stats.degraded == {"cache_unavailable": 12}
    metrics = generate_latest(pipeline.stats.registry).decode()
    assert 'moderation_degraded_verdicts_published_total{part="cache_unavailable"} 12.0' in metrics
    # Twelve posts failed every cache call, but each kind of failure is logged once a minute.
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("could not remember post" in m for m in messages) == 1
    assert sum("embedding cache unavailable" in m for m in messages) == 1
    assert len(messages) <= 6, messages


def test_the_throttle_says_how_many_warnings_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle = Throttle(60.0, clock=lambda: now[0])
    logger = logging.getLogger("test.throttle")
    with caplog.at_level("WARNING", logger="test.throttle"):
        assert throttle.warning(logger, "a", "redis down: %s", "refused")
        for _ in range(5):
            now[0] += 10
            assert not throttle.warning(logger, "a", "redis down: %s", "refused")
        assert throttle.warning(logger, "b", "another kind")  # keys are apart
        now[0] = 61.0
        assert throttle.warning(logger, "a", "redis down: %s", "timeout")
    assert [r.getMessage() for r in caplog.records] == [
        "redis down: refused",
        "another kind",
        "redis down: timeout (5 more like this in the last 61 s)",
    ]


async def test_identical_texts_in_a_batch_are_encoded_once() -> None:
    scorer = FakeScorer()
    await run([post(f"p{i}", text="same words") for i in range(4)], scorer=scorer)
    assert scorer.encoded_texts.count("same words") == 1


async def test_a_post_that_breaks_the_model_is_dead_lettered_alone() -> None:
    scorer = FakeScorer(fail_on_text="poison")
    values = [post("p0"), post("p1", text="poison"), post("p2")]
    publisher, acked, _ = await run(values, scorer=scorer)
    assert sorted(v["post_id"] for v in publisher.on("verdicts")) == ["p0", "p2"]
    [dead] = publisher.on("posts.dlq")
    assert dead["post_id"] == "k" and dead["error"]["type"] == "ModelError"
    assert acked == [0, 1, 2]


async def test_publish_failures_are_retried_before_acking() -> None:
    publisher = FakePublisher(fail_first=2)
    publisher, acked, pipeline = await run([post("p0")], publisher=publisher)
    assert [v["post_id"] for v in publisher.on("verdicts")] == ["p0"]
    assert acked == [0]
    assert prometheus_value(pipeline, "moderation_publish_errors_total") == 2
    assert prometheus_value(pipeline, "moderation_publish_retries_total") == 2


@pytest.mark.parametrize("n", [1, 9])
async def test_batches_respect_max_batch(n: int) -> None:
    _, _, pipeline = await run([post(f"p{i}") for i in range(n)])
    assert max(pipeline.stats.batch_sizes) <= SETTINGS.max_batch
    assert sum(size * count for size, count in pipeline.stats.batch_sizes.items()) == n


async def test_reference_by_id_to_a_post_still_in_flight_is_found_without_redis() -> None:
    publisher, _, _ = await run(
        [post("a1", text="the original"), post("a2", reference={"relation": "reply", "id": "a1"})]
    )
    verdicts = {v["post_id"]: v for v in publisher.on("verdicts")}
    assert verdicts["a2"]["entailment"]["status"] == "scored"


async def test_an_image_only_post_whose_images_all_fail_is_dead_lettered_with_the_reasons() -> None:
    value = post("p0", text=" ", images=["https://img.test/missing", "https://img.test/boom"])
    publisher, acked, _ = await run([value, post("p1")])
    [dead] = publisher.on("posts.dlq")
    assert dead["error"]["kind"] == "no_usable_content"
    assert "404" in dead["error"]["message"] and "500" in dead["error"]["message"]
    assert dead["error"]["retriable"] is True  # the 500 may pass
    assert [v["post_id"] for v in publisher.on("verdicts")] == ["p1"]
    assert acked == [0, 1]


def prometheus_value(pipeline: Pipeline, name: str, **labels: str) -> float | None:
    value: float | None = pipeline.stats.registry.get_sample_value(name, labels)
    return value


async def test_refused_images_of_image_only_posts_are_counted_though_the_posts_are_dead_letters() -> None:
    # Two image-only posts pointing at the same two internal addresses: an SSRF probe.
    urls = ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/a.png"]
    probes = [post(f"p{i}", text=" ", images=urls) for i in range(2)]
    settings = SETTINGS.model_copy(update={"allow_private_hosts": False})
    publisher, acked, pipeline = await run(probes, settings=settings)
    assert [d["error"]["kind"] for d in publisher.on("posts.dlq")] == ["no_usable_content"] * 2
    assert acked == [0, 1]
    assert pipeline.stats.images == {"blocked_url": 4}
    assert prometheus_value(pipeline, "moderation_image_fetches_total", outcome="blocked_url") == 4


async def test_every_image_is_counted_once_whatever_the_post_becomes() -> None:
    urls = ["https://img.test/ok/40x30.png", "https://img.test/missing"]
    values = [post("p0", images=urls), post("p1", text=" ", images=["https://img.test/missing"])]
    _, _, pipeline = await run(values)
    assert pipeline.stats.images == {"ok": 1, "http_status": 2}


async def test_labelled_series_exist_at_zero_before_any_event() -> None:
    _, _, pipeline = await run([])
    for name, labels in [
        ("moderation_dead_letters_total", {"reason": "no_usable_content"}),
        ("moderation_dead_letters_total", {"reason": "invalid_json"}),
        ("moderation_dead_letters_total", {"reason": "error"}),
        ("moderation_degraded_verdicts_published_total", {"part": "cache_unavailable"}),
        ("moderation_degraded_verdicts_published_total", {"part": "images_unavailable"}),
        ("moderation_image_fetches_total", {"outcome": "blocked_url"}),
        ("moderation_image_fetches_total", {"outcome": "memo"}),
        ("moderation_cache_lookups_total", {"result": "hit"}),
        ("moderation_gc_pause_seconds_count", {"generation": "2"}),
        ("moderation_publish_errors_total", {}),
        ("moderation_rebalances_total", {}),
        ("moderation_posts_in_flight", {}),
    ]:
        assert prometheus_value(pipeline, name, **labels) == 0, (name, labels)
    assert (prometheus_value(pipeline, "process_resident_memory_bytes") or 0) > 0


class CandidateScorer(FakeScorer):
    """A different model: its own identity, encoder ids and (higher) scores."""

    identity = FakeScorer.identity.model_copy(update={"heads": "candidate", "weights_sha256": "1" * 64})
    encoder_ids: ClassVar[dict[str, str]] = {
        "text": "t2",
        "image": "i2",
        "clip_text": "ct2",
        "clip_image": "ci2",
    }

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    def score(self, posts: Sequence[PostFeatures]) -> list[PostScores]:
        if self.fail:
            raise ModelError("candidate broke")
        return [dataclasses.replace(s, bias_score=0.99) for s in super().score(posts)]


async def run_with_shadow(values: list[bytes], candidate: CandidateScorer) -> FakePublisher:
    publisher = FakePublisher()
    client = httpx.AsyncClient(transport=image_transport())
    fetcher = ImageFetcher(SETTINGS.fetch, client, resolver=public_resolver)
    shadow = Shadow(SETTINGS.model_copy(update={"bias_threshold": 0.9}), candidate, None)
    pipeline = Pipeline(SETTINGS, FakeScorer(), fetcher, None, publisher, shadow=shadow)
    await pipeline.start()
    done = [asyncio.Event() for _ in values]
    for offset, value in enumerate(values):
        await pipeline.submit(record(offset, value), ack=done[offset].set)
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in done)), 10)
    await pipeline.stop()
    await client.aclose()
    return publisher


async def test_shadow_verdicts_go_to_the_shadow_topic_only() -> None:
    publisher = await run_with_shadow(
        [post("s1"), post("s2", images=["https://img.test/ok/40x30.png"])], CandidateScorer()
    )
    live, shadow = publisher.on("verdicts"), publisher.on("verdicts.shadow")
    assert sorted(v["post_id"] for v in live) == sorted(v["post_id"] for v in shadow) == ["s1", "s2"]
    assert all(v["model"]["heads"] == "untrained" for v in live)
    assert all(v["model"]["heads"] == "candidate" and v["bias"]["score"] == 0.99 for v in shadow)
    assert all(v["bias"]["threshold"] == 0.9 for v in shadow)
    flagged_ids = {v["post_id"] for v in publisher.on("verdicts.flagged")}
    assert flagged_ids == {v["post_id"] for v in live if v["flagged"]}  # shadow never flags live


async def test_a_failing_shadow_never_holds_up_live_verdicts() -> None:
    publisher = await run_with_shadow([post("f1"), post("f2")], CandidateScorer(fail=True))
    assert sorted(v["post_id"] for v in publisher.on("verdicts")) == ["f1", "f2"]
    assert publisher.on("verdicts.shadow") == []


async def test_each_text_is_tokenized_once_off_the_event_loop_and_encoded_from_its_ids() -> None:
    scorer = FakeScorer()
    inline = {"relation": "claim", "id": "r1", "text": "the claim itself", "image_urls": []}
    values = [post(f"p{i}", text=f"post number {i}") for i in range(6)] + [post("p6", reference=inline)]
    publisher, _, _ = await run(values, scorer)
    assert len(publisher.on("verdicts")) == 7
    texts = [text for text, _ in scorer.tokenized]
    assert sorted(texts) == sorted(
        [f"post number {i}" for i in range(6)] + ["hello world", "the claim itself"]
    )
    assert {thread for _, thread in scorer.tokenized} == {"tokenizer_0"}
    # The model saw exactly those texts, through their token ids.
    assert sorted(scorer.encoded_texts) == sorted(texts)


async def test_the_verdict_is_built_once_with_its_whole_timings() -> None:
    publisher, _, _ = await run([post("p1", images=["https://img.test/ok/40x30.png"])])
    [verdict] = publisher.on("verdicts")
    timings = verdict["timings"]
    # Queueing starts at intake, so it includes the fetch; publishing comes after both.
    assert timings["batch_size"] == 1 and timings["fetch_ms"] > 0
    assert 0 < timings["queue_ms"] + timings["inference_ms"] <= timings["total_ms"]


def test_a_prepared_post_cannot_be_changed_once_built() -> None:
    from worker.inference.jobs import ImageSlot

    slot = ImageSlot("https://img.test/a.png")
    with pytest.raises(dataclasses.FrozenInstanceError):
        slot.url = "https://elsewhere.test/b.png"  # type: ignore[misc]


async def test_a_verdict_the_broker_refuses_for_good_becomes_a_dead_letter_with_the_reason() -> None:
    publisher, acked, pipeline = await run(
        [post("p0"), post("p1")], publisher=FakePublisher(refuse=("verdicts",))
    )
    letters = publisher.on("posts.dlq")
    assert sorted(d["source"]["offset"] for d in letters) == [0, 1]
    assert all(d["error"]["kind"] == "publish_error" for d in letters)
    assert "MessageSizeTooLargeError" in str(letters[0]["error"]["message"])
    assert acked == [0, 1] and pipeline.halted is None


async def test_when_the_dead_letter_topic_refuses_too_the_record_stays_unacked_and_the_owner_is_told() -> (
    None
):
    publisher = FakePublisher(refuse=("verdicts", "posts.dlq"))
    halts: list[Exception] = []
    client = httpx.AsyncClient(transport=image_transport())
    fetcher = ImageFetcher(SETTINGS, client, resolver=public_resolver)
    pipeline = Pipeline(SETTINGS, FakeScorer(), fetcher, None, publisher, on_halt=halts.append)
    acked: list[int] = []
    await pipeline.start()
    await pipeline.submit(record(0, post("p0")), ack=lambda: acked.append(0))
    for _ in range(300):
        if halts:
            break
        await asyncio.sleep(0.01)
    await pipeline.stop()
    await fetcher.aclose()
    await client.aclose()
    assert len(halts) == 1 and pipeline.halted is halts[0]
    assert acked == [] and pipeline.in_flight == 1  # never acked: never committed
    assert publisher.on("verdicts") == [] and publisher.on("posts.dlq") == []
