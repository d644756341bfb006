"""The process's writer thread: writes queued together are stored together, waiters woken."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from mainspring._writer import GroupWriter, settled


class Blocker:
    """A target whose one write holds the writer thread until released (so others queue up)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.writer: GroupWriter[int] = GroupWriter("blocker", self._batch, _as_is)

    def _batch(self, writes: Sequence[int]) -> list[None]:
        self.entered.set()
        assert self.release.wait(10), "the test never released the writer thread"
        return [None] * len(writes)

    async def hold(self) -> asyncio.Future[Any]:
        held = self.writer.write(0)
        assert await asyncio.to_thread(self.entered.wait, 10)
        return held


def _as_is(exc: BaseException, count: int) -> BaseException:
    return RuntimeError(f"batch of {count} failed: {exc}")


class Recording:
    """A target that keeps the batches it was given; a write of -1 fails the whole batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.writer: GroupWriter[int] = GroupWriter("recording", self._batch, _as_is)

    def _batch(self, writes: Sequence[int]) -> list[Any]:
        if -1 in writes:
            raise OSError("disk full")
        self.batches.append(list(writes))
        return [ValueError(f"odd {w}") if w % 2 else w * 10 for w in writes]


async def test_writes_queued_while_the_thread_is_busy_share_one_batch() -> None:
    blocker, target = Blocker(), Recording()
    held = await blocker.hold()
    futures = [target.writer.write(i) for i in range(0, 20, 2)]
    blocker.release.set()
    assert await asyncio.gather(*futures) == [i * 10 for i in range(0, 20, 2)]
    await held
    assert target.batches == [list(range(0, 20, 2))]


async def test_a_write_failing_alone_fails_only_its_waiter() -> None:
    blocker, target = Blocker(), Recording()
    held = await blocker.hold()
    futures = [target.writer.write(i) for i in (2, 3, 4)]
    blocker.release.set()
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    await held
    assert outcomes[0] == 20 and outcomes[2] == 40
    assert isinstance(outcomes[1], ValueError) and "odd 3" in str(outcomes[1])


async def test_a_failed_batch_fails_every_waiter_of_that_batch_only() -> None:
    blocker, target = Blocker(), Recording()
    assert await target.writer.write(2) == 20
    held = await blocker.hold()
    futures = [target.writer.write(i) for i in (4, -1, 6)]
    blocker.release.set()
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    await held
    assert all(
        isinstance(o, RuntimeError) and "batch of 3 failed: disk full" in str(o) for o in outcomes
    )
    assert await target.writer.write(8) == 80  # the next batch is unaffected
    assert target.batches == [[2], [8]]


async def test_reads_and_close_run_after_the_writes_queued_before_them() -> None:
    target = Recording()
    writes = [target.writer.write(i) for i in range(0, 10, 2)]
    seen = await target.writer.call(lambda: sum(len(b) for b in target.batches))
    assert seen == 5 and all(w.done() for w in writes)
    closed: list[bool] = []
    late = target.writer.write(100)
    await target.writer.aclose(lambda: closed.append(any(100 in b for b in target.batches)))
    assert closed == [True] and await late == 1000


async def test_a_cancelled_waiter_does_not_stop_its_write_or_the_thread() -> None:
    blocker, target = Blocker(), Recording()
    held = await blocker.hold()
    future = target.writer.write(2)
    waiter = asyncio.ensure_future(settled([future]))
    await asyncio.sleep(0)
    waiter.cancel()
    blocker.release.set()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await held
    assert await future == 20 and await target.writer.write(4) == 40
