"""The PostgreSQL run store's single writer: one task per store and event loop, group commit.

Callers queue a job (an async function of the connection) and await its future; the writer task
takes every job queued since its last round, runs the writes in ONE transaction (each in its own
savepoint when there are several, so a write's own failure fails only its caller), commits, wakes
each waiter, then runs the reads. A transaction that fails as a whole fails every write of that
batch. No lock serialises the runs: they share commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mainspring.errors import RunStoreError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

Job = Callable[["AsyncConnection[Any]"], Awaitable[Any]]


@dataclass(slots=True)
class _Queued:
    job: Job
    future: asyncio.Future[Any]
    write: bool


class PgWriter:
    """Runs a store's jobs on its connection (see the module docstring).

    Args:
        connection: opens (or returns) the store's connection.
        own_error: turns an exception that is one write's own fault into its error, or None
            when the exception fails the whole batch.
        describe: the store, for errors (its URL).
    """

    def __init__(
        self,
        connection: Callable[[], Awaitable[AsyncConnection[Any]]],
        own_error: Callable[[BaseException], BaseException | None],
        describe: str,
    ) -> None:
        self._connection = connection
        self._own_error = own_error
        self._describe = describe
        self._queue: list[_Queued] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, job: Job, *, write: bool) -> asyncio.Future[Any]:
        """Queue a job; the future completes once it ran (a write: once it is committed)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="mainspring-runs-postgres-writer")
        queued = _Queued(job, loop.create_future(), write)
        self._queue.append(queued)
        assert self._wake is not None
        self._wake.set()
        return queued.future

    async def aclose(self) -> None:
        """Run every queued job, then stop the task (it restarts on the next job)."""
        task = self._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            self._queue.append(_Queued(_stop, asyncio.get_running_loop().create_future(), False))
            assert self._wake is not None
            self._wake.set()
            await task
        self._task = None

    async def _run(self) -> None:
        while True:
            assert self._wake is not None
            await self._wake.wait()
            self._wake.clear()
            jobs, self._queue = self._queue, []
            writes = [q for q in jobs if q.write]
            if writes:
                await self._commit(writes)
            for queued in jobs:
                if queued.job is _stop:
                    _settle(queued, None)
                    return
                if not queued.write:
                    await self._read(queued)

    async def _commit(self, writes: list[_Queued]) -> None:
        outcomes: list[Any] = []
        try:
            conn = await self._connection()
            async with conn.transaction():
                for queued in writes:
                    outcomes.append(await self._one(conn, queued, alone=len(writes) == 1))
        except Exception as exc:
            own = self._own_error(exc) if len(writes) == 1 else None
            outcomes = [own or self._batch_failed(exc, len(writes)) for _ in writes]
        for queued, outcome in zip(writes, outcomes, strict=True):
            _settle(queued, outcome)

    def _batch_failed(self, exc: BaseException, count: int) -> RunStoreError:
        return RunStoreError.batch_failed(self._describe, exc, count)

    async def _one(self, conn: AsyncConnection[Any], queued: _Queued, *, alone: bool) -> Any:
        if alone:  # its own transaction: a failure rolls back only this write
            return await queued.job(conn)
        try:
            async with conn.transaction():  # a savepoint
                return await queued.job(conn)
        except Exception as exc:
            own = self._own_error(exc)
            if own is None:
                raise
            return own

    async def _read(self, queued: _Queued) -> None:
        try:
            conn = await self._connection()
            outcome = await queued.job(conn)
        except Exception as exc:
            outcome = self._own_error(exc) or RunStoreError(f"run store query failed: {exc}")
            outcome.__cause__ = exc
        _settle(queued, outcome)


async def _stop(conn: AsyncConnection[Any]) -> None:  # a marker: never called
    raise AssertionError("the stop marker is never run")


def _settle(queued: _Queued, outcome: Any) -> None:
    if queued.future.done():
        return
    if isinstance(outcome, BaseException):
        queued.future.set_exception(outcome)
    else:
        queued.future.set_result(outcome)
