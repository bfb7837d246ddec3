"""Raw records to posts: every kind of bad input gets its own clear error."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moderation_lab.demo.data import invalid_records

from worker.consume.intake import parse_post
from worker.errors import InvalidJSON, InvalidPost, OversizeMessage, SchemaViolation, TooDeeplyNested

GOOD = {
    "id": "1357240852939218946",
    "text": "Nearly 4.5 million beneficiaries vaccinated",
    "image_urls": ["https://images.example.org/a.jpg"],
    "author_id": "u1",
    "created_at": "2021-02-04T10:00:00Z",
}


def raw(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_a_valid_post_parses() -> None:
    post = parse_post(raw(lang="en", reference={"relation": "reply", "id": "9"}), 10_000)
    assert post.id == GOOD["id"]
    assert post.created_at == datetime(2021, 2, 4, 10, tzinfo=UTC)
    assert post.reference is not None and not post.reference.is_inline


def test_inline_reference_and_unknown_fields() -> None:
    ref = {"relation": "quote", "id": "9", "text": "other", "image_urls": []}
    post = parse_post(raw(reference=ref, added_by_a_newer_producer=True), 10_000)
    assert post.reference is not None and post.reference.is_inline


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        (b"{nope", InvalidJSON, "JSON"),
        (b"\xff\xfe\x00", InvalidJSON, ""),
        (b"[]", SchemaViolation, "object"),
        (raw(id=7), SchemaViolation, "id"),
        (raw(id=""), SchemaViolation, "id"),
        (raw(id="x" * 129), SchemaViolation, "id"),
        (raw(text=None), SchemaViolation, "text"),
        (raw(created_at="yesterday"), SchemaViolation, "created_at"),
        (raw(created_at="2021-02-04T10:00:00"), SchemaViolation, "created_at"),  # no offset
        (raw(created_at="1612432800"), SchemaViolation, "RFC 3339"),  # a Unix time as text
        (raw(created_at="2021-02-04T10:00+01:00"), SchemaViolation, "RFC 3339"),  # no seconds
        (raw(image_urls="https://x/1"), SchemaViolation, "image_urls"),
        (raw(image_urls=[7]), SchemaViolation, "image_urls.0"),
        (raw(text=" \n", image_urls=[]), SchemaViolation, "non-empty text"),
        (raw(text="", image_urls=[]), SchemaViolation, "non-empty text"),
        (raw(reference={"relation": "likes", "id": "1"}), SchemaViolation, "reference.relation"),
    ],
)
def test_bad_input_is_refused_with_a_reason(value: bytes, error: type, fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_post(value, 10_000)
    assert fragment in str(info.value)


def test_oversize_is_refused_before_parsing() -> None:
    with pytest.raises(OversizeMessage, match="exceeds the limit of 1024"):
        parse_post(raw(text="x" * 2000), 1024)


def test_every_demo_invalid_record_is_refused() -> None:
    for sample in invalid_records():
        with pytest.raises(InvalidPost):
            parse_post(sample.value, 65_536)


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_another_error(value: bytes) -> None:
    with contextlib.suppress(InvalidPost):
        parse_post(value, 10_000)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["id", "text", "image_urls", "author_id", "created_at", "reference", "lang"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=6)),
    )
)
def test_arbitrary_json_objects_parse_or_are_refused(body: dict[str, object]) -> None:
    with contextlib.suppress(InvalidPost):
        parse_post(json.dumps(body).encode(), 10_000)


@pytest.mark.parametrize(
    "value",
    [
        b'{"id": "d", "text": "t", "nested": ' + b"[" * 300 + b"]" * 300 + b"}",  # valid JSON
        b"[" * 100_000,  # and not
    ],
)
def test_json_nested_past_the_parsers_depth_is_named_so(value: bytes) -> None:
    with pytest.raises(TooDeeplyNested, match="nested deeper than 200 levels") as raised:
        parse_post(value, 1_048_576)
    assert raised.value.kind == "too_deep" and "UTF-8" not in str(raised.value)
