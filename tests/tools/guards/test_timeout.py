import threading

import anyio

from mainspring.messages import ToolCall
from mainspring.tools import ToolExecutor, ToolRegistry, tool

finished = threading.Event()
cancelled = anyio.Event


@tool(timeout=0.05)
async def slow_async() -> str:
    """Sleeps too long."""
    await anyio.sleep(10)
    return "late"


@tool(timeout=0.05)
def slow_sync() -> str:
    """Blocks too long."""
    finished.wait(5)
    return "late"


async def test_async_tool_is_cancelled_with_a_timeout_result() -> None:
    result = await ToolExecutor(ToolRegistry([slow_async])).execute(ToolCall("1", "slow_async", {}))
    assert result.error is not None and result.error.kind == "timeout"
    assert "did not finish within 0.05s" in result.content


async def test_sync_tool_is_abandoned_and_the_loop_stays_free() -> None:
    executor = ToolExecutor(ToolRegistry([slow_sync]))
    result = await executor.execute(ToolCall("1", "slow_sync", {}))
    assert result.error is not None and result.error.kind == "timeout"
    finished.set()  # let the abandoned worker thread end


async def test_executor_default_timeout_applies_to_undeclared_tools() -> None:
    @tool
    async def forever() -> str:
        """Never ends."""
        await anyio.sleep(10)
        return ""

    executor = ToolExecutor(ToolRegistry([forever]), default_timeout=0.02)
    result = await executor.execute(ToolCall("1", "forever", {}))
    assert result.error is not None and result.error.kind == "timeout"
