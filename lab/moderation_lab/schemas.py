"""The JSON Schemas in ``schemas/``, generated from the value objects in :mod:`worker.messages`.

``moderation-lab schemas`` regenerates them; a test fails when the committed files
differ from what the value objects generate. Earlier versions of a message stay in
``schemas/`` as they were published (:data:`FROZEN`): consumers still validate with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from worker import names
from worker.messages import DeadLetter, Post, Verdict

__all__ = ["FROZEN", "SCHEMAS", "render", "schema_dir", "write_all"]

SCHEMA_BASE_URI = "https://moderation-worker.dev/schemas/"

#: file name -> (value object, schema version)
SCHEMAS: dict[str, tuple[type[BaseModel], int]] = {
    f"post.v{names.POST_SCHEMA_VERSION}.json": (Post, names.POST_SCHEMA_VERSION),
    f"verdict.v{names.VERDICT_SCHEMA_VERSION}.json": (Verdict, names.VERDICT_SCHEMA_VERSION),
    f"dead_letter.v{names.DEAD_LETTER_SCHEMA_VERSION}.json": (
        DeadLetter,
        names.DEAD_LETTER_SCHEMA_VERSION,
    ),
}


#: Files of earlier versions, kept unchanged (the value objects now generate a later one).
FROZEN: frozenset[str] = frozenset({"verdict.v1.json", "verdict.v2.json", "post.v1.json"})


def schema_dir() -> Path:
    """``schemas/`` at the repository root."""
    return Path(__file__).resolve().parents[2] / "schemas"


def build(model: type[BaseModel], file_name: str) -> dict[str, Any]:
    # Validation mode: the schema says what a reader accepts.
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE_URI + file_name,
        **schema,
    }


def render(file_name: str) -> str:
    model, _ = SCHEMAS[file_name]
    return json.dumps(build(model, file_name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(directory: Path | None = None) -> list[Path]:
    target = directory or schema_dir()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name in SCHEMAS:
        path = target / file_name
        path.write_text(render(file_name), encoding="utf-8")
        written.append(path)
    return written
