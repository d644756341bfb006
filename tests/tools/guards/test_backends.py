"""One contract, every backend: in-process and the real Redis on 127.0.0.1:6379."""

import os
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from mainspring.errors import BackendError
from mainspring.testing import FakeClock
from mainspring.tools import BreakerPolicy, RateLimit
from mainspring.tools.guards import GuardBackend, InMemoryBackend, RedisBackend
from tests.conftest import service_unavailable

REDIS_URL = os.environ.get("MAINSPRING_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def redis_backend(clock: FakeClock | None) -> RedisBackend:
    backend = RedisBackend.from_url(REDIS_URL, prefix=f"test-{uuid.uuid4().hex}:", clock=clock)
    try:
        await backend._redis.ping()
    except Exception as exc:
        await backend.aclose()
        service_unavailable("Redis at " + REDIS_URL, exc)
    return backend


@pytest.fixture(params=["memory", "redis"])
async def clocked(request: pytest.FixtureRequest) -> AsyncIterator[tuple[GuardBackend, FakeClock]]:
    clock = FakeClock()
    backend: GuardBackend
    if request.param == "memory":
        backend = InMemoryBackend(clock=clock)
    else:
        backend = await redis_backend(clock)
    yield backend, clock
    await backend.aclose()


async def test_rate_limit_contract(clocked: tuple[GuardBackend, FakeClock]) -> None:
    backend, clock = clocked
    rate = RateLimit(3, 1.0)
    assert [(await backend.acquire("k", rate)).allowed for _ in range(4)] == [True] * 3 + [False]
    peeked = await backend.peek("k", rate)
    assert not peeked.allowed and peeked.retry_after == pytest.approx(1 / 3)
    clock.advance(1 / 3)
    assert (await backend.peek("k", rate)).allowed
    assert (await backend.acquire("k", rate)).allowed
    assert (await backend.acquire("other", rate)).allowed


async def test_breaker_contract(clocked: tuple[GuardBackend, FakeClock]) -> None:
    backend, clock = clocked
    policy = BreakerPolicy(2, cooldown=5.0)
    for _ in range(2):
        decision = await backend.admit("svc", policy)
        await backend.record("svc", policy, success=False, trial=decision.trial)
    assert await backend.state("svc", policy) == "open"
    rejected = await backend.admit("svc", policy)
    assert not rejected.allowed and rejected.retry_after == pytest.approx(5.0)
    clock.advance(5.0)
    assert await backend.state("svc", policy) == "half_open"
    trial = await backend.admit("svc", policy)
    assert trial.allowed and trial.trial
    assert not (await backend.admit("svc", policy)).allowed
    await backend.record("svc", policy, success=True, trial=True)
    assert await backend.state("svc", policy) == "closed"


async def test_cache_contract(clocked: tuple[GuardBackend, FakeClock]) -> None:
    backend, _ = clocked
    assert await backend.get("key") is None
    await backend.set("key", "välue", ttl=60)
    assert await backend.get("key") == "välue"


async def test_redis_cache_entries_expire() -> None:
    backend = await redis_backend(None)
    await backend.set("short", "x", ttl=0.05)
    await anyio.sleep(0.15)
    assert await backend.get("short") is None
    await backend.aclose()


async def test_redis_down_is_a_backend_error() -> None:
    backend = RedisBackend.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(BackendError, match="Redis rate limit"):
        await backend.acquire("k", RateLimit(1, 1.0))
    await backend.aclose()


WORKER = textwrap.dedent(
    """
    import sys, time, anyio
    from mainspring.tools import RateLimit
    from mainspring.tools.guards import RedisBackend

    async def main(url, prefix, start, seconds):
        backend = RedisBackend.from_url(url, prefix=prefix)
        rate = RateLimit.parse("10/s")
        while time.time() < start:
            await anyio.sleep(0.001)
        allowed = 0
        while time.time() < start + seconds:
            if (await backend.acquire("shared", rate)).allowed:
                allowed += 1
            await anyio.sleep(0.002)
        print(allowed)
        await backend.aclose()

    anyio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    """
)


@pytest.mark.slow
async def test_two_processes_share_one_limit() -> None:
    probe = await redis_backend(None)
    prefix = probe._prefix
    await probe.aclose()
    # A generous head start: both processes must be up (imports, Redis connect) before it.
    start, seconds = time.time() + 4.0, 2.0
    counts: list[int] = []

    async def worker() -> None:
        args = [sys.executable, "-c", WORKER, REDIS_URL, prefix, str(start), str(seconds)]
        done = await anyio.run_process(args)
        counts.append(int(done.stdout))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(worker)
            group.start_soon(worker)
    # One shared 10/s bucket: a burst of 10, then 10 per second for 2 s -> 30 in all.
    # Two private buckets would have allowed about 60.
    assert all(c > 0 for c in counts)
    assert 27 <= sum(counts) <= 31
