"""The whole stack for integration tests: broker, Redis, images, tiny models, workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.errors import ServiceError

from tests.conftest import _unavailable


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    workdir = tmp_path_factory.mktemp("stack")
    stack = EmbeddedStack(workdir, models_dir=tmp_path_factory.getbasetemp() / "tiny-models")
    try:
        stack.start()
    except ServiceError as exc:
        stack.stop()
        _unavailable("embedded stack", exc)
    yield stack
    stack.stop()
