"""Faults named by whose fault they are: a guard bug or a backend failure is never the tool's."""

import asyncio
import re

import pytest

import mainspring.tools.guards as guards_package
from mainspring.errors import BackendError, BudgetExceededError, InternalError, UnavailableError
from mainspring.messages import ToolCall
from mainspring.testing import FakeClock
from mainspring.tools import BreakerPolicy, Tool, ToolExecutor, ToolRegistry, tool
from mainspring.tools.guards import (
    GUARD_ORDER,
    BreakerDecision,
    CacheGuard,
    CircuitBreakerGuard,
    Handler,
    InMemoryBackend,
    Invocation,
    default_guards,
)
from mainspring.tools.stats import StatsRecorder

runs = {"n": 0}


@tool(breaker=BreakerPolicy(1, cooldown=10.0), cache_ttl=600)
def lookup(key: str, fail: bool = False) -> str:
    """A cached, breaker-guarded lookup that fails when told to."""
    runs["n"] += 1
    if fail:
        raise ConnectionError("upstream down")
    return f"value of {key}"


class BrokenGuard:
    """A guard with a bug: it raises before the tool runs."""

    def applies(self, tool: Tool) -> bool:
        return True

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        raise KeyError("a bug in a guard")


class FlakyBackend(InMemoryBackend):
    """The in-process backend, switchable into failing as a down Redis does."""

    never_waits = False  # a remote backend, as far as the guards know
    down = False

    async def admit(self, key: str, policy: BreakerPolicy) -> BreakerDecision:
        if self.down:
            raise BackendError("Redis breaker for 'x' failed: Connection refused")
        return await super().admit(key, policy)

    async def get(self, key: str) -> str | None:
        if self.down:
            raise BackendError("Redis cache read failed: Connection refused")
        return await super().get(key)


def test_default_guards_follow_guard_order_and_the_drawing() -> None:
    built = default_guards(InMemoryBackend(), default_timeout=1.0)
    assert [type(g) for g in built] == list(GUARD_ORDER)
    # The package docstring draws the order; it must say what the code does.
    doc = guards_package.__doc__ or ""
    drawn = re.search(r"```\n(.*?) -> tool\n```", doc, re.S)
    assert drawn is not None
    names = [n.strip().replace(" ", "") for n in drawn.group(1).split("->")]
    expected = [g.__name__.removesuffix("Guard").lower() for g in GUARD_ORDER]
    aliases = {"scope": "scopes", "ratelimit": "ratelimit", "circuitbreaker": "circuitbreaker"}
    assert names == [aliases.get(e, e) for e in expected]
    assert GUARD_ORDER.index(CacheGuard) < GUARD_ORDER.index(CircuitBreakerGuard)


async def test_a_guard_bug_is_internal_and_not_counted_against_the_tool() -> None:
    registry = ToolRegistry([lookup], backend=InMemoryBackend(clock=FakeClock()))
    guards = [BrokenGuard(), *default_guards(registry.backend, default_timeout=None)]
    executor = ToolExecutor(registry, guards=guards)
    for i in range(3):
        result = await executor.execute(ToolCall(str(i), "lookup", {"key": "a"}))
        assert result.error is not None and result.error.kind == "internal"
        assert "KeyError" in result.content and "not the tool's fault" in result.content
    stats = (await registry.stats())["lookup"]
    assert stats.errors == 0 and stats.errors_by_kind == {"internal": 3}
    assert stats.status == "available"  # the breaker (1 failure opens it) never heard of them


async def test_a_backend_failure_is_unavailable_and_the_breaker_stays_closed() -> None:
    backend = FlakyBackend(clock=FakeClock())
    registry = ToolRegistry([lookup], backend=backend)
    executor = ToolExecutor(registry)
    backend.down = True
    before = runs["n"]
    for i in range(3):
        result = await executor.execute(ToolCall(str(i), "lookup", {"key": f"k{i}"}))
        assert result.error is not None and result.error.kind == "unavailable"
        assert "Connection refused" in result.content and "was not run" in result.content
    assert runs["n"] == before
    backend.down = False
    assert await registry.status("lookup") == "available"
    assert (await executor.execute(ToolCall("4", "lookup", {"key": "k9"}))).ok
    stats = (await registry.stats())["lookup"]
    assert stats.errors == 0 and stats.errors_by_kind == {"unavailable": 3}


async def test_only_the_tools_own_exception_is_a_tool_error() -> None:
    executor = ToolExecutor(ToolRegistry([lookup], backend=InMemoryBackend(clock=FakeClock())))
    result = await executor.execute(ToolCall("1", "lookup", {"key": "z", "fail": True}))
    assert result.error is not None and result.error.kind == "tool_error"
    assert "ConnectionError: upstream down" in result.content
    assert await executor.registry.status("lookup") == "circuit_open"


async def test_a_half_open_probe_runs_the_tool_even_when_the_answer_is_cached() -> None:
    clock = FakeClock()
    executor = ToolExecutor(ToolRegistry([lookup], backend=InMemoryBackend(clock=clock)))
    assert (await executor.execute(ToolCall("1", "lookup", {"key": "a"}))).ok  # cached now
    await executor.execute(ToolCall("2", "lookup", {"key": "b", "fail": True}))  # opens
    assert await executor.registry.status("lookup") == "circuit_open"
    clock.advance(10.0)
    # A cache hit is answered without touching the breaker: it neither claims nor settles the
    # half-open trial (before, it closed the breaker without running the tool).
    hit = await executor.execute(ToolCall("3", "lookup", {"key": "a"}))
    assert hit.ok and hit.cached
    policy = lookup.policy.breaker
    assert policy is not None
    assert await executor.registry.backend.state("lookup", policy) == "half_open"
    before = runs["n"]
    probe = await executor.execute(ToolCall("4", "lookup", {"key": "c", "fail": True}))
    assert runs["n"] == before + 1  # the probe really ran the tool...
    assert probe.error is not None and probe.error.kind == "tool_error"
    assert await executor.registry.status("lookup") == "circuit_open"  # ...and it reopened


async def test_cancelled_calls_do_not_count_against_the_breaker() -> None:
    started = asyncio.Event()

    @tool(breaker=1)
    async def wait_forever() -> str:
        """Blocks until cancelled."""
        started.set()
        await asyncio.Event().wait()
        return ""

    executor = ToolExecutor(ToolRegistry([wait_forever]), default_timeout=None)
    task = asyncio.create_task(executor.execute(ToolCall("1", "wait_forever", {})))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await executor.registry.status("wait_forever") == "available"


class ForgetfulBackend(InMemoryBackend):
    """Answers before the tool runs, then fails every write about its outcome."""

    never_waits = False

    async def set(self, key: str, value: str, ttl: float) -> None:
        raise BackendError("Redis cache write failed: Connection reset")

    async def record(self, key: str, policy: BreakerPolicy, *, success: bool, trial: bool) -> None:
        raise BackendError("Redis breaker for 'lookup' failed: Connection reset")


async def test_bookkeeping_that_fails_after_the_tool_ran_keeps_its_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    executor = ToolExecutor(ToolRegistry([lookup], backend=ForgetfulBackend(clock=FakeClock())))
    before = runs["n"]
    result = await executor.execute(ToolCall("1", "lookup", {"key": "q"}))
    # The tool ran (a side effect happened): reporting a failure would invite a repeat.
    assert result.ok and result.content == "value of q" and runs["n"] == before + 1
    warned = [r.getMessage() for r in caplog.records if r.name == "mainspring.tools"]
    assert any("cache update" in m and "Connection reset" in m for m in warned)
    assert any("circuit breaker update" in m for m in warned)


def test_the_new_kinds_are_never_counted_as_the_tools_errors() -> None:
    errors = [BudgetExceededError("spent"), InternalError("bug"), UnavailableError("down")]
    assert [e.to_tool_error().kind for e in errors] == [
        "budget_exceeded",
        "internal",
        "unavailable",
    ]
    recorder = StatsRecorder()
    for e in errors:
        recorder.record(1.0, e.kind, cached=False)
    recorder.record(1.0, "tool_error", cached=False)
    snapshot = recorder.snapshot("t", "available")
    assert snapshot.errors == 1 and sum(snapshot.errors_by_kind.values()) == 4
