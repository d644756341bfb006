import datetime as dt

from mainspring.messages import ToolCall
from mainspring.tools import ToolExecutor, ToolRegistry
from mainspring.tools.builtin import clock


async def test_time_in_a_zone() -> None:
    executor = ToolExecutor(ToolRegistry([clock]))
    result = await executor.execute(ToolCall("1", "clock", {"timezone": "Asia/Tokyo"}))
    assert result.ok and "+09:00 (JST" in result.content
    stamp = dt.datetime.fromisoformat(result.content.split(" ")[0])
    assert abs((stamp - dt.datetime.now(dt.UTC)).total_seconds()) < 60


async def test_unknown_zone_suggests_real_ones() -> None:
    executor = ToolExecutor(ToolRegistry([clock]))
    result = await executor.execute(ToolCall("1", "clock", {"timezone": "paris"}))
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert "Europe/Paris" in result.content
    empty = await executor.execute(ToolCall("2", "clock", {"timezone": ""}))
    assert empty.error is not None and empty.error.kind == "invalid_arguments"
