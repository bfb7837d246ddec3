"""The whole stack for integration tests: broker, Redis, images, tiny models, workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.errors import ServiceError

from tests.conftest import BROKERS, _unavailable


@pytest.fixture(scope="module", params=BROKERS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedStack]:
    """The stack on each embedded broker in turn (Tansu, noida-db)."""
    workdir = tmp_path_factory.mktemp(f"stack-{request.param}")
    models = tmp_path_factory.getbasetemp() / "tiny-models"
    stack = EmbeddedStack(workdir, models_dir=models, broker=request.param)
    try:
        stack.start()
    except ServiceError as exc:
        stack.stop()
        _unavailable("embedded stack", exc)
    yield stack
    stack.stop()
