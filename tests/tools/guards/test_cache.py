from mainspring.messages import ToolCall
from mainspring.testing import FakeClock
from mainspring.tools import ToolExecutor, ToolRegistry, tool
from mainspring.tools.guards import InMemoryBackend

runs = {"n": 0}


@tool(cache_ttl=60)
def square(x: int) -> int:
    """Square a number (fails on 13)."""
    runs["n"] += 1
    if x == 13:
        raise ValueError("unlucky")
    return x * x


def make(clock: FakeClock, cache_size: int = 100) -> ToolExecutor:
    backend = InMemoryBackend(clock=clock, cache_size=cache_size)
    return ToolExecutor(ToolRegistry([square], backend=backend))


async def test_hits_are_served_without_running_the_tool() -> None:
    executor = make(FakeClock())
    start = runs["n"]
    first = await executor.execute(ToolCall("1", "square", {"x": 4}))
    again = await executor.execute(
        ToolCall.from_text("2", "square", '{"x": "4"}')
    )  # same once validated
    assert (first.content, first.cached) == ("16", False)
    assert (again.content, again.cached, again.call_id) == ("16", True, "2")
    assert runs["n"] == start + 1
    assert (await executor.registry.stats())["square"].cache_hits == 1


async def test_errors_are_not_cached() -> None:
    executor = make(FakeClock())
    start = runs["n"]
    for _ in range(2):
        assert not (await executor.execute(ToolCall("1", "square", {"x": 13}))).ok
    assert runs["n"] == start + 2


async def test_entries_expire_after_ttl() -> None:
    clock = FakeClock()
    executor = make(clock)
    await executor.execute(ToolCall("1", "square", {"x": 5}))
    clock.advance(59)
    assert (await executor.execute(ToolCall("2", "square", {"x": 5}))).cached
    clock.advance(2)
    assert not (await executor.execute(ToolCall("3", "square", {"x": 5}))).cached


async def test_size_is_bounded() -> None:
    executor = make(FakeClock(), cache_size=2)
    for x in (1, 2, 3):
        await executor.execute(ToolCall("1", "square", {"x": x}))
    assert not (await executor.execute(ToolCall("2", "square", {"x": 1}))).cached
    assert (await executor.execute(ToolCall("3", "square", {"x": 3}))).cached


async def test_a_changed_tool_never_reads_old_results() -> None:
    backend = InMemoryBackend(clock=FakeClock())
    registry = ToolRegistry([square], backend=backend)
    executor = ToolExecutor(registry)
    await executor.execute(ToolCall("1", "square", {"x": 6}))

    @tool(name="square", description="Square, version 2.", cache_ttl=60)
    def square_v2(x: int) -> int:
        return x * x + 0

    registry.register(square_v2, replace=True)
    assert not (await executor.execute(ToolCall("2", "square", {"x": 6}))).cached
