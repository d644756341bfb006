from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.harness import ThreadedServer
from tests.server.scenario import EFFECTS_VARIABLE, TOOLS, scenario_model


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.txt"
    path.touch()
    monkeypatch.setenv(EFFECTS_VARIABLE, str(path))
    return path


@pytest.fixture
def server(tmp_path: Path, effects: Path) -> Iterator[ThreadedServer]:
    running = ThreadedServer(tmp_path / "data", TOOLS, {"test:scenario": scenario_model()})
    running.start()
    yield running
    running.stop()
