"""The hostile corpus agrees with the worker's own parsing, decoding and URL policy.

These run without any service: they check that each case's expected outcome is the
one the code gives, so the integration test fails only for real reasons.
"""

from __future__ import annotations

import pytest
from moderation_lab.reliability.corpus import Case, build_corpus, hostile_images, ssrf_hosts
from moderation_lab.reliability.hostile_server import HostileServer
from moderation_lab.reliability.scenario_hostile import HOSTILE_SETTINGS

from worker.consume.intake import parse_post, read_post
from worker.errors import BlockedURL, InvalidPost, MalformedURL, NotAnImage, OverImageLimit, UnsupportedScheme
from worker.fetch.decode import decode_image
from worker.fetch.refusals import refuse_urls
from worker.fetch.url_policy import AddressPolicy, loopback_name, parse_ip_literal
from worker.messages import MAX_LISTED_IMAGES

#: The worker's limit in the hostile scenario (under the broker's own 1 MB record limit).
MAX_MESSAGE_BYTES = int(str(HOSTILE_SETTINGS["max_message_bytes"]))


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    with HostileServer() as host:
        return build_corpus(host, canary_port=9, closed_port=10)


def test_dead_letter_cases_fail_intake_with_the_expected_kind(cases: list[Case]) -> None:
    for case in cases:
        if case.dead_letter in (None, "no_usable_content"):
            continue
        with pytest.raises(InvalidPost) as caught:
            parse_post(case.value, MAX_MESSAGE_BYTES)
        assert caught.value.kind == case.dead_letter, case.name


def test_verdict_cases_are_readable_posts_with_one_expectation_per_listed_image(cases: list[Case]) -> None:
    verdicts = [case for case in cases if case.dead_letter is None]
    assert len(verdicts) >= 10
    for case in verdicts:
        post = read_post(case.value, MAX_MESSAGE_BYTES).post
        assert min(len(post.image_urls), MAX_LISTED_IMAGES) == len(case.images), case.name
        assert post.id == case.post_id


def test_refused_urls_are_expected_with_the_reason_the_worker_gives(cases: list[Case]) -> None:
    """Each image expected 'refused' (unsupported scheme, malformed, over the limit) is
    refused by worker.fetch.refusals with that very reason, and nothing else is."""
    kinds = {cls.kind for cls in (MalformedURL, OverImageLimit, UnsupportedScheme)}
    seen = 0
    for case in cases:
        if case.dead_letter is not None:
            continue
        urls = read_post(case.value, MAX_MESSAGE_BYTES).post.image_urls
        refused = refuse_urls(urls)
        for index, expected in enumerate(case.images):
            if expected in kinds:
                assert refused[index].kind == expected, (case.name, index)
                seen += 1
            else:
                assert index not in refused, (case.name, index)
    assert seen >= 30


def test_the_readable_cases_are_no_longer_dead_letters(cases: list[Case]) -> None:
    """Issue: one forbidden URL, five URLs or a long text took a post out of moderation."""
    by_name = {case.name: case for case in cases}
    for name in ("javascript-url", "file-url", "data-url", "six-urls", "5000-urls", "text-200k"):
        assert by_name[name].dead_letter is None and "text" in by_name[name].modalities


@pytest.mark.parametrize("name", sorted(hostile_images()))
def test_each_hostile_image_decodes_as_expected(name: str) -> None:
    body, _, expected = hostile_images()[name]
    if expected == "ok":
        assert decode_image(body, 40_000_000).width == 96
    else:
        with pytest.raises(NotAnImage):
            decode_image(body, 40_000_000)


@pytest.mark.parametrize("host", ssrf_hosts(9))
def test_every_ssrf_spelling_is_a_loopback_literal_or_name_refused_without_a_lookup(host: str) -> None:
    name = host.rsplit(":", 1)[0]
    assert parse_ip_literal(name) is not None or loopback_name(name)
    with pytest.raises(BlockedURL, match=r"loopback|unspecified"):
        AddressPolicy().check_literal(name, 9)
