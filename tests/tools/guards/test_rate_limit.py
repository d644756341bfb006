import pytest

from mainspring.messages import ToolCall
from mainspring.testing import FakeClock
from mainspring.tools import CallContext, Principal, RateLimit, ToolExecutor, ToolRegistry, tool
from mainspring.tools.guards import InMemoryBackend
from mainspring.tools.guards._gcra import gcra


@tool(rate_limit="5/s")
def ping() -> str:
    """Pong."""
    return "pong"


@tool(rate_limit=RateLimit(2, 60.0, per_principal=True))
def report() -> str:
    """Report."""
    return "done"


def make(clock: FakeClock) -> ToolExecutor:
    return ToolExecutor(ToolRegistry([ping, report], backend=InMemoryBackend(clock=clock)))


async def test_burst_then_exact_retry_after_then_refill() -> None:
    clock = FakeClock()
    executor = make(clock)
    results = [await executor.execute(ToolCall(str(i), "ping", {})) for i in range(6)]
    assert [r.ok for r in results] == [True] * 5 + [False]
    error = results[5].error
    assert error is not None and error.kind == "rate_limited"
    assert error.retry_after == pytest.approx(0.2)
    assert "retry after 0.20s" in results[5].content
    clock.advance(0.2)
    assert (await executor.execute(ToolCall("7", "ping", {}))).ok
    assert not (await executor.execute(ToolCall("8", "ping", {}))).ok
    clock.advance(1.0)
    assert all([(await executor.execute(ToolCall("9", "ping", {}))).ok for _ in range(5)])


async def test_per_principal_buckets_are_separate() -> None:
    executor = make(FakeClock())
    ann = CallContext(principal=Principal("ann"))
    bob = CallContext(principal=Principal("bob"))
    assert [(await executor.execute(ToolCall("1", "report", {}), ann)).ok for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert (await executor.execute(ToolCall("2", "report", {}), bob)).ok


def test_gcra_never_allows_more_than_capacity_plus_elapsed_rate() -> None:
    rate = RateLimit(10, 1.0)
    tat = None
    allowed = 0
    for step in range(1000):
        ok, new_tat, _ = gcra(tat, step * 0.01, rate)  # 100 attempts/s for 10 s
        if ok:
            allowed += 1
            tat = new_tat
    assert allowed == 10 + 99  # the initial burst, then one per 0.1 s over 9.99 s
