from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.models._server import ScriptedServer


@pytest.fixture(scope="session")
def _running_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(_running_server: ScriptedServer) -> Iterator[ScriptedServer]:
    _running_server.reset()
    yield _running_server
    assert not _running_server.replies, "scripted replies were left unused"
