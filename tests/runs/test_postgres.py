"""The PostgreSQL run store's single writer: concurrent runs share commits, failures kept apart."""

from __future__ import annotations

import asyncio

from mainspring.errors import RunNotFoundError, RunStoreError
from mainspring.messages import ToolResult
from mainspring.runs import RunInfo, ToolFinished
from tests.runs.test_run_store import drop_schema, postgres_store


def finished(step: int) -> ToolFinished:
    return ToolFinished(step, ToolResult(f"c{step}", True, str(step), tool="send"))


async def test_fifty_concurrent_runs_all_land_in_order() -> None:
    store = await postgres_store()
    runs = [f"run-{i}" for i in range(50)]
    try:
        await asyncio.gather(*(store.create(RunInfo(run_id=r, task="t")) for r in runs))

        async def one_run(run_id: str) -> None:
            for step in range(1, 6):
                await store.append(run_id, [finished(step)])

        await asyncio.gather(*(one_run(r) for r in runs))
        for run_id in runs:
            record = await store.load(run_id)
            assert [e.step for e in record.events] == [1, 2, 3, 4, 5]
    finally:
        await store.aclose()
        await drop_schema(store.schema)


async def test_writes_failing_on_their_own_fail_only_their_callers() -> None:
    store = await postgres_store()
    try:
        await store.create(RunInfo(run_id="a", task="t"))
        outcomes = await asyncio.gather(
            store.append("a", [finished(1)]),
            store.append("nope", [finished(1)]),
            store.create(RunInfo(run_id="a", task="t")),
            store.append("a", [finished(2)]),
            return_exceptions=True,
        )
        assert outcomes[0] is None and outcomes[3] is None
        assert isinstance(outcomes[1], RunNotFoundError) and "'nope'" in str(outcomes[1])
        assert isinstance(outcomes[2], RunStoreError) and "already exists" in str(outcomes[2])
        assert [e.step for e in (await store.load("a")).events] == [1, 2]
    finally:
        await store.aclose()
        await drop_schema(store.schema)


async def test_close_commits_every_queued_write_first() -> None:
    store = await postgres_store()
    try:
        await store.create(RunInfo(run_id="a", task="t"))
        pending = [asyncio.ensure_future(store.append("a", [finished(s)])) for s in range(1, 31)]
        await asyncio.sleep(0)  # the appends are queued
        await store.aclose()
        assert all(p.done() and p.exception() is None for p in pending)
        assert [e.step for e in (await store.load("a")).events] == list(range(1, 31))
    finally:
        await store.aclose()
        await drop_schema(store.schema)
