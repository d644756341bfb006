from typing import Any

import pytest

from mainspring.errors import DuplicateToolError, ToolNotFoundError
from mainspring.messages import ToolCall
from mainspring.testing import FakeClock
from mainspring.tools import CallContext, Principal, ToolExecutor, ToolRegistry, tool
from mainspring.tools.guards import InMemoryBackend


@tool(scopes={"admin"})
def reboot() -> str:
    """Reboot the server."""
    return "rebooting"


@tool
def echo(text: str) -> str:
    """Echo text."""
    return text


def test_register_get_unregister() -> None:
    registry = ToolRegistry([echo])
    assert "echo" in registry and len(registry) == 1
    with pytest.raises(DuplicateToolError, match="already registered"):
        registry.register(echo)
    registry.register(echo, replace=True)
    with pytest.raises(ToolNotFoundError, match="available tools: echo"):
        registry.get("ech")
    assert registry.unregister("echo") is echo
    assert len(registry) == 0


async def test_schemas_list_only_tools_the_principal_may_use() -> None:
    registry = ToolRegistry([echo, reboot])
    user = Principal("u1")
    admin = Principal("root", frozenset({"admin"}))

    def names(schemas: list[dict[str, Any]]) -> list[str]:
        return [s["function"]["name"] for s in schemas]

    assert names(await registry.schemas(user)) == ["echo"]
    assert names(await registry.schemas(admin)) == ["echo", "reboot"]
    anthropic = await registry.schemas(admin, format="anthropic")
    assert [s["name"] for s in anthropic] == ["echo", "reboot"]


async def test_operator_can_take_a_tool_out_of_service() -> None:
    registry = ToolRegistry([echo])
    executor = ToolExecutor(registry)
    registry.set_available("echo", False, reason="maintenance")
    assert await registry.status("echo") == "unavailable"
    assert await registry.schemas() == []
    result = await executor.execute(ToolCall("1", "echo", {"text": "hi"}))
    assert result.error is not None and result.error.kind == "not_found"
    assert "maintenance" in result.content
    registry.set_available("echo", True)
    assert (await executor.execute(ToolCall("2", "echo", {"text": "hi"}))).ok


async def test_stats_and_status_reflect_guards() -> None:
    clock = FakeClock()

    @tool(rate_limit="2/s", breaker=1)
    def flaky(fail: bool) -> str:
        """Maybe fail."""
        if fail:
            raise RuntimeError("boom")
        return "ok"

    registry = ToolRegistry([flaky], backend=InMemoryBackend(clock=clock))
    executor = ToolExecutor(registry)
    assert (await executor.execute(ToolCall("1", "flaky", {"fail": False}))).ok
    assert await registry.status("flaky") == "available"
    await executor.execute(ToolCall("2", "flaky", {"fail": True}))
    assert await registry.status("flaky") == "circuit_open"
    assert await registry.schemas() == []
    result = await executor.execute(ToolCall("3", "flaky", {"fail": False}))
    assert result.error is not None and result.error.kind == "rate_limited"
    stats = (await registry.stats())["flaky"]
    assert (stats.calls, stats.errors, stats.rate_limited) == (3, 2, 1)
    assert stats.status == "circuit_open"
    assert stats.p50_ms is not None and stats.p95_ms is not None and stats.p50_ms <= stats.p95_ms
    clock.advance(1.0)
    result = await executor.execute(ToolCall("4", "flaky", {"fail": False}), CallContext())
    assert result.error is not None and result.error.kind == "circuit_open"
    assert (await registry.stats())["flaky"].breaker_rejected == 1
