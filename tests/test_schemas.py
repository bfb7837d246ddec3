"""schemas/ and the value objects in worker.messages say the same thing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from moderation_lab.demo.data import demo_posts, invalid_records
from moderation_lab.schemas import FROZEN, SCHEMAS, render, schema_dir

from tests.test_pipeline import post, run
from worker import names
from worker.consume.intake import parse_post
from worker.errors import InvalidPost


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((schema_dir() / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_the_value_object(name: str) -> None:
    assert (schema_dir() / name).read_text() == render(name), "run: moderation-lab schemas"


def test_no_stray_schema_files() -> None:
    assert {p.name for p in Path(schema_dir()).glob("*.json")} == set(SCHEMAS) | FROZEN


def test_schema_and_value_object_agree_on_every_sample_post() -> None:
    posts = validator(f"post.v{names.POST_SCHEMA_VERSION}.json")
    samples = demo_posts(None, 20, lambda path: "https://img.test" + path)
    assert samples
    for sample in samples:
        try:
            document: Any = json.loads(sample.value)
        except ValueError:
            continue  # not JSON: nothing for a schema to say
        schema_ok = posts.is_valid(document)
        try:
            parse_post(sample.value, 1 << 20)
            model_ok = True
        except InvalidPost:
            model_ok = False
        assert schema_ok == model_ok, sample.note
    assert any(s.kind == "invalid" for s in samples)


def test_invalid_records_are_refused_by_the_schema_too() -> None:
    posts = validator(f"post.v{names.POST_SCHEMA_VERSION}.json")
    for sample in invalid_records():
        try:
            document = json.loads(sample.value)
        except ValueError:
            continue
        assert not posts.is_valid(document) or sample.note.startswith("oversize message"), sample.note


async def test_pipeline_outputs_validate_against_their_schemas() -> None:
    urls = ["https://img.test/ok/40x30.png", "https://img.test/missing"]
    ref = {"relation": "quote", "id": "r", "text": "other", "image_urls": urls[:1]}
    publisher, _, _ = await run([post("p1", images=urls, reference=ref), post("p2"), b"\xff"])
    verdicts, dead = publisher.on("verdicts"), publisher.on("posts.dlq")
    assert len(verdicts) == 2 and len(dead) == 1
    for verdict in verdicts:
        validator(f"verdict.v{names.VERDICT_SCHEMA_VERSION}.json").validate(verdict)
    validator("dead_letter.v1.json").validate(dead[0])
