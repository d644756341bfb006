"""The RunStore contract; every store runs it."""

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from mainspring.errors import RunNotFoundError, RunStoreError
from mainspring.messages import Message, ModelResponse, ToolCall, ToolResult, Usage
from mainspring.runs import (
    ModelCalled,
    RunInfo,
    RunStore,
    SqliteRunStore,
    ToolFinished,
    ToolStarted,
)
from mainspring.runs.postgres import PostgresRunStore
from tests.conftest import service_unavailable

POSTGRES_URL = os.environ.get(
    "MAINSPRING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


async def postgres_store() -> PostgresRunStore:
    import psycopg

    schema = f"test_runs_{uuid.uuid4().hex[:12]}"
    try:
        conn = await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True)
        await conn.close()
    except psycopg.Error as exc:
        service_unavailable("PostgreSQL at " + POSTGRES_URL, exc)
    return PostgresRunStore(POSTGRES_URL, schema=schema)


async def drop_schema(schema: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    if request.param == "sqlite":
        s: RunStore = SqliteRunStore(tmp_path / "runs.db")
        yield s
        await s.aclose()
        return
    pg = await postgres_store()
    yield pg
    await pg.aclose()
    await drop_schema(pg.schema)


def response(text: str, *calls: ToolCall) -> ModelResponse:
    return ModelResponse(
        Message("assistant", text, tool_calls=calls), usage=Usage(10, 5, 0.001), model="m"
    )


async def test_round_trip(store: RunStore) -> None:
    info = RunInfo(
        run_id="r1", task="add 2 and 3", model="scripted", settings={"protocol": "native"}
    )
    await store.create(info)
    call = ToolCall("c1", "add", {"a": 2, "b": 3})
    finished = ToolFinished(1, ToolResult("c1", True, "5", tool="add"))
    events: list[ModelCalled | ToolStarted | ToolFinished] = [
        ModelCalled(1, response("", call)),
        ToolStarted(1, call, idempotency_key="r1:1:c1", idempotent=True),
        finished,
    ]
    await store.append("r1", events[:2])
    await store.append("r1", events[2:])
    record = await store.load("r1")
    assert record.info == info
    assert record.events == tuple(events)
    assert record.finished_tools() == {"r1:1:c1": finished.result}
    assert record.unfinished_tools() == []


async def test_unfinished_tool_calls_are_visible(store: RunStore) -> None:
    await store.create(RunInfo(run_id="r2", task="t"))
    call = ToolCall("c9", "send_email", {"to": "x"})
    await store.append("r2", [ToolStarted(3, call, idempotency_key="r2:3:c9")])
    record = await store.load("r2")
    assert [e.call for e in record.unfinished_tools()] == [call]


async def test_update_and_list(store: RunStore) -> None:
    for i in range(3):
        await store.create(
            RunInfo(run_id=f"run-{i}", task=f"task {i}", created_at=f"2026-01-0{i + 1}")
        )
    done = replace((await store.load("run-1")).info, status="completed", output="42", steps=2)
    await store.update(done)
    assert (await store.load("run-1")).info.output == "42"
    assert [r.run_id for r in await store.list()] == ["run-2", "run-1", "run-0"]
    assert [r.run_id for r in await store.list(status="completed")] == ["run-1"]
    assert len(await store.list(limit=1)) == 1


async def test_errors_name_the_problem(store: RunStore) -> None:
    await store.create(RunInfo(run_id="dup", task="t"))
    with pytest.raises(RunStoreError, match="already exists"):
        await store.create(RunInfo(run_id="dup", task="t"))
    with pytest.raises(RunNotFoundError, match="'nope'"):
        await store.load("nope")
    with pytest.raises(RunNotFoundError):
        await store.append("nope", [])
    with pytest.raises(RunNotFoundError):
        await store.update(RunInfo(run_id="nope", task="t"))
