"""Stores for the memory tests: every contract test runs against SQLite and the real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mainspring.memory import MemoryStore, SQLiteMemoryStore
from tests.conftest import service_unavailable

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class ManualClock:
    """A clock the test moves by hand: `clock()` reads it, `clock.advance(s)` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.time = start

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


def unique_schema() -> str:
    """A schema name no parallel test run shares."""
    return f"test_memory_{os.getpid()}_{uuid.uuid4().hex[:8]}"


async def postgres_store() -> MemoryStore:
    from mainspring.errors import MemoryStoreError
    from mainspring.memory.postgres import PostgresMemoryStore

    store = PostgresMemoryStore(POSTGRES_URL, schema=unique_schema())
    try:
        await store.stats("probe")
    except MemoryStoreError as exc:
        service_unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    return store


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MemoryStore]:
    if request.param == "sqlite":
        sqlite = SQLiteMemoryStore(tmp_path / "memory.db")
        yield sqlite
        await sqlite.close()
        return
    from mainspring.memory.postgres import PostgresMemoryStore

    postgres = await postgres_store()
    yield postgres
    assert isinstance(postgres, PostgresMemoryStore)
    await postgres.close()
    cleanup = PostgresMemoryStore(POSTGRES_URL, schema=postgres.schema)
    await cleanup.drop_schema()
    await cleanup.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
