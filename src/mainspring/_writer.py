"""Group commit: one long-lived writer thread per process, shared by every run, store and log.

Callers on the event loop queue a write and get a future; the thread takes every write queued
since its last round, stores each target's writes together (one transaction, one `write`), and
wakes each waiter once its write is stored. Concurrent runs share transactions instead of
queueing behind a lock, a run store's and an audit log's writes of the same moment share one
wake-up, and a caller pays the wake-up of a thread that already runs, not a fresh `to_thread`.

A target's batch function returns one outcome per write: a result, or the exception that write
alone raised (the others are stored). If the batch as a whole fails (the commit, the disk), it
raises and every waiter of that batch gets the error: none of its writes is stored, and nothing
stored before is touched. Reads run in the thread after the target's writes queued before them,
so they see every write that was acknowledged before they were asked for.

The cost of sharing: one target's slow write (an `fsync`) delays the others' writes of that
round. Each target's own order is the order its writes were queued in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

P = TypeVar("P")
"""What one write carries (a function of the connection, a list of audit entries)."""

BatchFn = Callable[[Sequence[P]], Sequence[Any]]
"""Store these writes together; one outcome (a result or an exception) per write."""


@dataclass(slots=True)
class _Job:
    target: GroupWriter[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    payload: Any = None
    read: Callable[[], Any] | None = None
    outcome: Any = field(default=None)


class _Thread:
    """The process's writer thread (restarted in a forked child, which does not inherit it)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queue: list[_Job] = []
        self.thread: threading.Thread | None = None

    def submit(self, job: _Job) -> None:
        with self.cond:
            self.queue.append(job)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="mainspring-writer", daemon=True
                )
                self.thread.start()
            elif len(self.queue) == 1:
                self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                jobs, self.queue = self.queue, []
            by_target: dict[int, list[_Job]] = {}
            for job in jobs:
                by_target.setdefault(id(job.target), []).append(job)
            for mine in by_target.values():
                try:
                    mine[0].target.process(mine)
                except BaseException as exc:  # never leave a waiter hanging
                    for job in mine:
                        job.outcome = exc
            _settle_all(jobs)

    def reset(self) -> None:
        self.cond = threading.Condition()
        self.queue = []
        self.thread = None


_WRITER = _Thread()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WRITER.reset)


class GroupWriter(Generic[P]):
    """One target's writes (a store, a log) on the process's writer thread (see the module).

    Args:
        name: what the target is (for a reader of a stack dump or a profile).
        batch: stores a batch of writes; runs only in the writer thread.
        fail: turns an exception that failed a whole batch into the error each waiter gets.
    """

    def __init__(
        self,
        name: str,
        batch: BatchFn[P],
        fail: Callable[[BaseException, int], BaseException],
    ) -> None:
        self.name = name
        self._batch = batch
        self._fail = fail

    def write(self, payload: P) -> asyncio.Future[Any]:
        """Queue a write now; the future completes once it is stored (or failed)."""
        loop = asyncio.get_running_loop()
        job = _Job(self, loop.create_future(), loop, payload=payload)
        _WRITER.submit(job)
        return job.future

    def call(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run `fn` in the writer thread after this target's writes queued before it."""
        loop = asyncio.get_running_loop()
        job = _Job(self, loop.create_future(), loop, read=fn)
        _WRITER.submit(job)
        return job.future

    async def aclose(self, final: Callable[[], Any] | None = None) -> None:
        """Wait for every write queued so far, then run `final` (a close) in the thread."""
        await self.call(final or (lambda: None))

    def process(self, jobs: Sequence[_Job]) -> None:
        """Run this target's share of a round: its writes as one batch, then its reads."""
        writes = [j for j in jobs if j.read is None]
        if writes:
            try:
                outcomes = list(self._batch([j.payload for j in writes]))
            except BaseException as exc:  # the whole batch failed: every waiter learns why
                outcomes = [self._fail(exc, len(writes)) for _ in writes]
            for job, outcome in zip(writes, outcomes, strict=True):
                job.outcome = outcome
        for job in jobs:
            if job.read is not None:
                try:
                    job.outcome = job.read()
                except BaseException as exc:
                    job.outcome = exc


def _settle_all(jobs: Sequence[_Job]) -> None:
    """Wake the waiters: one call per event loop, however many jobs it has."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, mine in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, mine)


def _settle(jobs: Sequence[_Job]) -> None:
    for job in jobs:
        if job.future.done():  # the waiter was cancelled; the write happened anyway
            continue
        if isinstance(job.outcome, BaseException):
            job.future.set_exception(job.outcome)
        else:
            job.future.set_result(job.outcome)


async def settled(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Wait until every future is done, whatever its outcome (a done callback reports failures).

    Cheaper than `asyncio.wait` for futures that are mostly done already; a cancelled caller
    does not cancel them (the writes happen anyway).
    """
    for future in list(futures):
        if not future.done():
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                if future.cancelled():
                    continue
                raise
            except Exception:
                pass
