"""The SQLite run store's group commit: runs' writes share transactions, failures kept apart."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from mainspring.errors import RunNotFoundError, RunStoreError
from mainspring.messages import ToolCall, ToolResult
from mainspring.runs import RunInfo, SqliteRunStore, ToolFinished, ToolStarted
from tests.test_writer import Blocker


def started(step: int, run_id: str) -> ToolStarted:
    call = ToolCall(f"c{step}", "send", {"n": step})
    return ToolStarted(step, call, idempotency_key=f"{run_id}:{step}:c{step}")


def finished(step: int) -> ToolFinished:
    return ToolFinished(step, ToolResult(f"c{step}", True, str(step), tool="send"))


async def test_fifty_concurrent_runs_all_land_in_order(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    runs = [f"run-{i}" for i in range(50)]
    await asyncio.gather(*(store.create(RunInfo(run_id=r, task="t")) for r in runs))

    async def one_run(run_id: str) -> None:
        for step in range(1, 11):
            await store.append(run_id, [started(step, run_id)])
            await store.append(run_id, [finished(step)])

    await asyncio.gather(*(one_run(r) for r in runs))
    await store.aclose()
    reopened = SqliteRunStore(tmp_path / "runs.db")
    for run_id in runs:
        record = await reopened.load(run_id)
        assert [(e.kind, e.step) for e in record.events] == [
            (kind, step) for step in range(1, 11) for kind in ("tool_started", "tool_finished")
        ]
        assert len(record.finished_tools()) == 10 and not record.unfinished_tools()
    await reopened.aclose()


async def test_one_write_failing_on_its_own_fails_only_its_caller(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    await store.create(RunInfo(run_id="a", task="t"))
    await store.create(RunInfo(run_id="b", task="t"))
    blocker = Blocker()
    held = await blocker.hold()  # the writer thread is busy: the next writes share a batch
    writes = [
        store.append_soon("a", [finished(1)]),
        store.append_soon("nope", [finished(1)]),
        store.append_soon("b", [finished(1)]),
    ]
    duplicate = asyncio.ensure_future(store.create(RunInfo(run_id="a", task="t")))
    await asyncio.sleep(0)
    blocker.release.set()
    outcomes = await asyncio.gather(*writes, duplicate, return_exceptions=True)
    await held
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], RunNotFoundError) and "'nope'" in str(outcomes[1])
    assert isinstance(outcomes[3], RunStoreError) and "already exists" in str(outcomes[3])
    assert len((await store.load("a")).events) == 1 and len((await store.load("b")).events) == 1
    await store.aclose()


async def test_a_failed_transaction_fails_its_whole_batch_and_nothing_else(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    store = SqliteRunStore(path, timeout=0.2)
    for run_id in ("a", "b", "c"):
        await store.create(RunInfo(run_id=run_id, task="t"))
        await store.append(run_id, [started(1, run_id)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the timeout
    blocker = Blocker()
    held = await blocker.hold()
    writes = [store.append_soon(r, [finished(1)]) for r in ("a", "b", "c")]
    blocker.release.set()
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    await held
    for outcome in outcomes:
        assert isinstance(outcome, RunStoreError)
        assert "transaction of 3 queued write(s) failed" in str(outcome)
        assert "database is locked" in str(outcome) and "none of them is stored" in str(outcome)
    other.execute("ROLLBACK")
    other.close()
    await store.append("b", [finished(1)])  # the store works again once the lock is gone
    records = {r: await store.load(r) for r in ("a", "b", "c")}
    assert [len(r.events) for r in records.values()] == [1, 2, 1]
    assert records["a"].unfinished_tools() and not records["b"].unfinished_tools()
    await store.aclose()


async def test_close_stores_every_queued_write_first(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    await store.create(RunInfo(run_id="a", task="t"))
    queued = [store.append_soon("a", [finished(step)]) for step in range(1, 101)]
    await store.aclose()
    assert all(q.done() and q.exception() is None for q in queued)
    reopened = SqliteRunStore(tmp_path / "runs.db")
    assert [e.step for e in (await reopened.load("a")).events] == list(range(1, 101))
    await reopened.aclose()


async def test_a_closed_store_reopens_on_its_next_use(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    await store.create(RunInfo(run_id="a", task="t"))
    await store.aclose()
    await store.append("a", [finished(1)])
    assert len((await store.load("a")).events) == 1
    await store.aclose()


@pytest.mark.parametrize("durable", [False, True])
async def test_the_sync_mode_is_what_was_asked(tmp_path: Path, durable: bool) -> None:
    store = SqliteRunStore(tmp_path / "runs.db", durable=durable)
    await store.create(RunInfo(run_id="a", task="t"))
    mode = await store._read(lambda db: db.execute("PRAGMA synchronous").fetchone()[0])
    assert mode == (2 if durable else 1)  # FULL / NORMAL
    await store.aclose()
