import anyio

from mainspring.messages import ToolCall
from mainspring.testing import FakeClock
from mainspring.tools import BreakerPolicy, ToolExecutor, ToolRegistry, tool
from mainspring.tools.guards import InMemoryBackend

calls = {"n": 0}


@tool(breaker=BreakerPolicy(3, cooldown=10.0))
def service(fail: bool) -> str:
    """A flaky downstream service."""
    calls["n"] += 1
    if fail:
        raise ConnectionError("refused")
    return "ok"


def make(clock: FakeClock, *tools: object) -> ToolExecutor:
    registry = ToolRegistry(tools or [service], backend=InMemoryBackend(clock=clock))  # type: ignore[arg-type]
    return ToolExecutor(registry)


async def run(executor: ToolExecutor, fail: bool, name: str = "service") -> str:
    result = await executor.execute(ToolCall("c", name, {"fail": fail}))
    return "ok" if result.ok else result.error.kind  # type: ignore[union-attr]


async def test_opens_after_consecutive_failures_and_rejects_without_calling() -> None:
    clock = FakeClock()
    executor = make(clock)
    assert [await run(executor, True) for _ in range(3)] == ["tool_error"] * 3
    before = calls["n"]
    assert await run(executor, False) == "circuit_open"
    assert calls["n"] == before
    assert await executor.registry.status("service") == "circuit_open"


async def test_success_resets_the_consecutive_count() -> None:
    executor = make(FakeClock())
    for fail in (True, True, False, True, True):
        await run(executor, fail)
    assert await executor.registry.status("service") == "available"


async def test_half_open_trial_closes_or_reopens() -> None:
    clock = FakeClock()
    executor = make(clock)
    for _ in range(3):
        await run(executor, True)
    clock.advance(10.0)
    assert await run(executor, True) == "tool_error"  # the trial fails...
    assert await run(executor, False) == "circuit_open"  # ...and the circuit reopens
    clock.advance(10.0)
    assert await run(executor, False) == "ok"  # a successful trial closes it
    assert await run(executor, False) == "ok"


async def test_only_one_trial_runs_while_half_open() -> None:
    clock = FakeClock()
    release = anyio.Event()

    @tool(breaker=BreakerPolicy(1, cooldown=5.0))
    async def gate(fail: bool) -> str:
        """Blocks until released."""
        if fail:
            raise RuntimeError("down")
        await release.wait()
        return "ok"

    executor = make(clock, gate)
    await run(executor, True, "gate")
    clock.advance(5.0)
    outcomes: list[str] = []

    async def call() -> None:
        outcomes.append(await run(executor, False, "gate"))

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await anyio.sleep(0.01)
        group.start_soon(call)
        await anyio.sleep(0.01)
        release.set()
    assert sorted(outcomes) == ["circuit_open", "ok"]


async def test_failure_rate_over_window() -> None:
    clock = FakeClock()

    @tool(breaker=BreakerPolicy(100, failure_rate=0.5, min_calls=4, window=10.0))
    def sometimes(fail: bool) -> str:
        """Fails when told to."""
        if fail:
            raise RuntimeError("x")
        return "ok"

    executor = make(clock, sometimes)
    for fail in (True, False, True):
        await run(executor, fail, "sometimes")
    assert await executor.registry.status("sometimes") == "available"  # 3 calls < min_calls
    clock.advance(20.0)  # the window forgets them
    for fail in (True, False, False):
        await run(executor, fail, "sometimes")
    assert await executor.registry.status("sometimes") == "available"
    await run(executor, True, "sometimes")  # 2 of 4 in the window failed
    assert await executor.registry.status("sometimes") == "circuit_open"


async def test_timeouts_count_and_rejections_do_not() -> None:
    clock = FakeClock()

    @tool(breaker=2, timeout=0.01)
    async def hang(fail: bool) -> str:
        """Hangs when told to."""
        if fail:
            await anyio.sleep(1)
        return "ok"

    executor = make(clock, hang)
    bad_args = await executor.execute(ToolCall("x", "hang", {"fail": "maybe"}))
    assert bad_args.error is not None and bad_args.error.kind == "invalid_arguments"
    assert await run(executor, True, "hang") == "timeout"
    assert await executor.registry.status("hang") == "available"
    assert await run(executor, True, "hang") == "timeout"
    assert await executor.registry.status("hang") == "circuit_open"


async def test_a_lost_trial_does_not_wedge_the_breaker() -> None:
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    policy = BreakerPolicy(1, cooldown=5.0)
    await backend.admit("t", policy)
    await backend.record("t", policy, success=False, trial=False)
    clock.advance(5.0)
    trial = await backend.admit("t", policy)
    assert trial.allowed and trial.trial  # its caller then crashes and never records
    assert not (await backend.admit("t", policy)).allowed
    clock.advance(5.0)
    assert (await backend.admit("t", policy)).trial
