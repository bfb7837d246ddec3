"""Properties of message parsing: valid posts round-trip; anything else is refused with
the right kind of InvalidPost, never another exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.consume.intake import parse_post, read_post
from worker.errors import InvalidJSON, InvalidPost, OversizeMessage, SchemaViolation

LIMIT = 1_048_576

post_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=300).filter(lambda t: t.strip())
urls = st.builds(
    "{}://{}.example/{}".format,
    st.sampled_from(["http", "https", "HTTPS"]),
    st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._~%-]{0,40}", fullmatch=True),
)
times = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))
references = st.none() | st.fixed_dictionaries(
    {"relation": st.sampled_from(["reply", "quote", "claim"]), "id": post_ids},
    optional={"text": st.text(max_size=50), "image_urls": st.lists(urls, max_size=4)},
)


@st.composite
def valid_posts(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": draw(post_ids),
        "text": draw(texts),
        "image_urls": draw(st.lists(urls, max_size=4)),
        "author_id": draw(post_ids),
        "created_at": draw(times).isoformat(),
    }
    reference = draw(references)
    if reference is not None:
        body["reference"] = reference
    return body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
WRONG_TYPED = {
    "id": st.integers() | st.none() | st.lists(st.text(max_size=3), max_size=2),
    "text": st.integers() | st.none() | st.booleans(),
    "image_urls": st.text(max_size=10) | st.integers() | st.lists(st.integers(), min_size=1, max_size=2),
    "author_id": st.integers() | st.floats(allow_nan=False),
    "created_at": st.integers()
    | st.booleans()
    | st.integers(min_value=0).map(str)  # pydantic alone reads digit strings as Unix times
    | st.sampled_from(["yesterday", "", "2021-13-45T99:00:00Z", "2021-02-04T10:00Z", "2021-02-04"]),
}
PROPERTY_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


@PROPERTY_SETTINGS
@given(valid_posts())
def test_valid_posts_round_trip(body: dict[str, Any]) -> None:
    post = parse_post(json.dumps(body).encode(), LIMIT)
    assert (post.id, post.text, post.image_urls) == (body["id"], body["text"], body["image_urls"])
    assert post.created_at == datetime.fromisoformat(body["created_at"])


@PROPERTY_SETTINGS
@given(valid_posts(), st.sampled_from(sorted(WRONG_TYPED)), st.data())
def test_one_wrongly_typed_field_is_a_schema_violation(
    body: dict[str, Any], field: str, data: st.DataObject
) -> None:
    body[field] = data.draw(WRONG_TYPED[field])
    with pytest.raises(SchemaViolation) as caught:
        parse_post(json.dumps(body).encode(), LIMIT)
    assert field in str(caught.value)


@PROPERTY_SETTINGS
@given(valid_posts())
def test_a_missing_id_is_a_schema_violation(body: dict[str, Any]) -> None:
    del body["id"]
    with pytest.raises(SchemaViolation, match="id"):
        parse_post(json.dumps(body).encode(), LIMIT)


@PROPERTY_SETTINGS
@given(valid_posts(), st.sampled_from(["author_id", "created_at", "reference"]))
def test_a_post_reads_without_its_optional_fields(body: dict[str, Any], field: str) -> None:
    body.pop(field, None)
    assert getattr(parse_post(json.dumps(body).encode(), LIMIT), field) is None


@PROPERTY_SETTINGS
@given(valid_posts(), st.sampled_from(["author_id", "created_at"]), st.data())
def test_a_malformed_optional_field_is_ignored_and_named(
    body: dict[str, Any], field: str, data: st.DataObject
) -> None:
    body[field] = data.draw(WRONG_TYPED[field])
    read = read_post(json.dumps(body).encode(), LIMIT)
    assert read.ignored == (field,)
    assert getattr(read.post, field) is None
    assert (read.post.id, read.post.text) == (body["id"], body["text"])


@PROPERTY_SETTINGS
@given(valid_posts(), st.lists(st.text(max_size=30), max_size=12), st.text(max_size=3000))
def test_any_image_urls_and_any_text_length_are_readable(
    body: dict[str, Any], image_urls: list[str], tail: str
) -> None:
    """Which URLs are fetched, and how much text is scored, is decided later and reported:
    neither makes a post unreadable (docs/messages.md)."""
    body["image_urls"], body["text"] = image_urls, body["text"] + tail * 10
    post = read_post(json.dumps(body).encode(), LIMIT).post
    assert (post.image_urls, post.text) == (image_urls, body["text"])


@PROPERTY_SETTINGS
@given(valid_posts(), st.binary(min_size=1, max_size=4).filter(lambda b: not _is_utf8(b)))
def test_invalid_utf8_anywhere_in_the_text_is_invalid_json(body: dict[str, Any], junk: bytes) -> None:
    body["text"] = "<<HERE>>"
    raw = json.dumps(body, ensure_ascii=False).encode().replace(b"<<HERE>>", junk)
    with pytest.raises(InvalidJSON):
        parse_post(raw, LIMIT)


@PROPERTY_SETTINGS
@given(json_values)
def test_any_json_value_parses_or_is_refused_as_invalid_post(value: object) -> None:
    try:
        parse_post(json.dumps(value).encode(), LIMIT)
    except InvalidPost as exc:
        assert isinstance(exc, SchemaViolation | InvalidJSON)


@PROPERTY_SETTINGS
@given(st.binary(min_size=1025, max_size=4096))
def test_anything_over_the_limit_is_oversize_before_it_is_read(value: bytes) -> None:
    with pytest.raises(OversizeMessage):
        parse_post(value, 1024)


@PROPERTY_SETTINGS
@given(valid_posts(), st.integers(129, 5000))
def test_ids_longer_than_128_are_refused(body: dict[str, Any], length: int) -> None:
    body["id"] = "x" * length
    with pytest.raises(SchemaViolation, match="id"):
        parse_post(json.dumps(body).encode(), LIMIT)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
