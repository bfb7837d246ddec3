"""The JSON Schemas in schemas/ are versioned; each version reads the messages of the one before.

``schemas/NAME.vN.json`` is version N of a message; ``tests/schema_examples/NAME.vN.jsonl``
holds messages written under version N, one JSON per line (the v1 verdicts include
some written before ``model.settings_sha256`` existed and some after). A consumer
upgraded to version N must still accept every message a producer on N-1 wrote:
backward compatibility.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from moderation_lab.schemas import schema_dir

from worker import names
from worker.messages import Verdict

EXAMPLES = Path(__file__).resolve().parent / "schema_examples"
_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.json$")


def schema_versions() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in schema_dir().glob("*.json"):
        match = _FILE.match(path.name)
        assert match, f"{path.name} is not named NAME.vN.json"
        found.setdefault(match["name"], []).append(int(match["version"]))
    return {name: sorted(versions) for name, versions in found.items()}


def validator(name: str, version: int) -> jsonschema.Draft202012Validator:
    schema = json.loads((schema_dir() / f"{name}.v{version}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def examples(name: str, version: int) -> list[dict[str, Any]]:
    path = EXAMPLES / f"{name}.v{version}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def successive_pairs() -> list[tuple[str, int, int]]:
    return [(name, v - 1, v) for name, versions in schema_versions().items() for v in versions if v > 1]


SCHEMA_FILES = sorted(f"{name}.v{v}" for name, versions in schema_versions().items() for v in versions)


def test_versions_count_from_one_without_gaps() -> None:
    for name, versions in schema_versions().items():
        assert versions == list(range(1, len(versions) + 1)), name


@pytest.mark.parametrize("schema_file", SCHEMA_FILES)
def test_each_version_accepts_its_own_examples(schema_file: str) -> None:
    name, version = schema_file.rsplit(".v", 1)
    found = examples(name, int(version))
    assert found, f"add examples of {schema_file} to {EXAMPLES}"
    check = validator(name, int(version))
    for example in found:
        check.validate(example)


def test_each_new_version_accepts_every_message_of_the_previous_one() -> None:
    checked = 0
    for name, old, new in successive_pairs():
        check = validator(name, new)
        for example in examples(name, old):
            errors = [e.message for e in check.iter_errors(example)]
            assert not errors, f"{name} v{new} refuses a v{old} message: {errors}"
            checked += 1
    # With one version of everything there is no pair yet; the corpus test above still
    # proves the current files accept what was written before they last changed.
    assert checked or not successive_pairs()


@pytest.mark.parametrize("schema_file", [f for f in SCHEMA_FILES if not f.startswith("post.")])
def test_outputs_carry_their_schema_version(schema_file: str) -> None:
    name, version = schema_file.rsplit(".v", 1)
    schema = json.loads((schema_dir() / f"{schema_file}.json").read_text())
    assert schema["properties"]["schema_version"]["default"] == int(version)
    assert all(example["schema_version"] == int(version) for example in examples(name, int(version)))


def test_the_check_catches_a_version_that_requires_a_new_field() -> None:
    """The check itself works: a v2 that made a new field required would refuse v1 messages."""
    schema = json.loads((schema_dir() / "verdict.v1.json").read_text())
    schema["required"] = [*schema["required"], "added_later"]
    strict = jsonschema.Draft202012Validator(schema)
    assert any(not strict.is_valid(example) for example in examples("verdict", 1))


@pytest.mark.parametrize("version", range(1, names.VERDICT_SCHEMA_VERSION + 1))
def test_the_verdict_value_object_reads_verdicts_of_every_version(version: int) -> None:
    """A consumer using worker.messages (replay, compare, search) reads old verdicts too."""
    for example in examples("verdict", version):
        assert Verdict.model_validate(example).schema_version == version


def test_an_untrained_bias_head_cannot_carry_a_label() -> None:
    """v3: a score from random weights is never labelled 'biased', in the schema or the value object."""
    check = validator("verdict", 3)
    untrained = [e for e in examples("verdict", 3) if e["bias"].get("untrained")]
    assert untrained
    for example in untrained:
        assert example["bias"]["label"] is None
        labelled = {**example, "bias": {**example["bias"], "label": "biased"}}
        assert not check.is_valid(labelled)
        with pytest.raises(ValueError, match="no label"):
            Verdict.model_validate(labelled)
