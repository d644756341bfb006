"""The client against a server that hangs, crashes, lies and changes: real processes, no mocks."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from mainspring.errors import DuplicateToolError, MCPConfigError, MCPConnectionError
from mainspring.mcp import MCPServerConfig, MCPToolset, StdioTarget, ToolOverride
from mainspring.messages import ToolCall, ToolResult
from mainspring.tools import BreakerPolicy, CallContext, Principal, ToolExecutor, ToolRegistry, tool
from tests.mcp.conftest import MISBEHAVING


def bad_server(
    name: str = "bad", env: dict[str, str] | None = None, **options: Any
) -> MCPServerConfig:
    target = StdioTarget(sys.executable, (str(MISBEHAVING),), env=env or {})
    return MCPServerConfig(name, target, **options)


@asynccontextmanager
async def running(*configs: MCPServerConfig) -> AsyncIterator[tuple[MCPToolset, ToolExecutor]]:
    registry = ToolRegistry()
    async with MCPToolset(configs) as toolset:
        toolset.register(registry)
        yield toolset, ToolExecutor(registry)


async def call(
    executor: ToolExecutor, name: str, args: dict[str, Any] | None = None, **ctx: Any
) -> ToolResult:
    return await executor.execute(ToolCall("c", name, args or {}), CallContext(**ctx))


async def test_a_hung_server_times_out_and_opens_the_tool_and_server_breakers() -> None:
    config = bad_server(timeout=0.5, breaker=BreakerPolicy(2, cooldown=60))
    async with running(config) as (_, executor):
        first, second = await call(executor, "hang"), await call(executor, "hang")
        assert first.error is not None and first.error.kind == "timeout"
        assert second.error is not None and second.error.kind == "timeout"
        third = await call(executor, "hang")
        assert third.error is not None and third.error.kind == "circuit_open"
        # The server's own breaker is open too: its other tools are refused without a call.
        other = await call(executor, "echo", {"text": "hi"})
        assert other.error is not None and other.error.kind == "circuit_open"
        assert "MCP server 'bad'" in other.content


async def test_a_per_tool_timeout_overrides_the_servers() -> None:
    config = bad_server(
        timeout=0.3,
        max_result_tokens=500,
        tools={"slow": ToolOverride(timeout=10, max_result_tokens=64)},
    )
    async with running(config) as (toolset, executor):
        assert (await call(executor, "slow", {"seconds": 0.6})).content == "slept"
        policies = {t.name: t.policy for t in toolset.tools}
        assert policies["echo"].timeout == 0.3  # echo keeps the server's
        assert (policies["echo"].max_result_tokens, policies["slow"].max_result_tokens) == (500, 64)


async def test_a_server_that_crashes_mid_call_is_restarted(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    config = bad_server(env={"MISBEHAVING_STARTS_FILE": str(starts)})
    async with running(config) as (toolset, executor):
        crashed = await call(executor, "crash")
        assert crashed.error is not None and crashed.error.kind == "tool_error"
        assert "closed the connection" in crashed.content
        again = await call(executor, "echo", {"text": "back"})
        assert again.ok, again.content
        assert again.content == "back"
        connection = toolset.connection("bad")
        assert connection.connects == 2
        assert "about to crash" in connection.stderr.text()
    assert starts.read_text().count("start") == 2


async def test_malformed_results_are_tool_errors_and_the_session_survives() -> None:
    async with running(bad_server()) as (_, executor):
        broken = await call(executor, "malformed")
        assert broken.error is not None and broken.error.kind == "tool_error"
        assert "cannot read" in broken.content
        assert (await call(executor, "echo", {"text": "still here"})).content == "still here"


async def test_is_error_results_reach_the_model_without_opening_the_breaker() -> None:
    async with running(bad_server(breaker=BreakerPolicy(2))) as (_, executor):
        for _ in range(4):
            result = await call(executor, "fail")
            assert result.error is not None and result.error.kind == "tool_error"
            assert result.content == "the input was wrong: try 'right'"


async def test_the_tool_list_is_refreshed_on_list_changed() -> None:
    async with running(bad_server()) as (toolset, executor):
        assert "extra1" not in executor.registry
        assert (await call(executor, "grow")).ok
        with anyio.fail_after(10):
            while "extra1" not in executor.registry:  # noqa: ASYNC110 - the registry has no event
                await anyio.sleep(0.05)
        assert (await call(executor, "extra1")).content == "extra1 ran"
        assert "extra1" in {t.name for t in toolset.tools}


async def test_a_chatty_server_does_not_block_and_its_stderr_is_bounded() -> None:
    async with running(bad_server()) as (toolset, executor):
        assert (await call(executor, "chatty")).content == "done talking"
        tail = toolset.connection("bad").stderr.text().splitlines()
        assert 0 < len(tail) <= 50 and all(len(line) <= 2000 for line in tail)


async def test_the_server_gets_only_its_env_and_path_home_lang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    async with running(bad_server(env={"GIVEN": "1"})) as (_, executor):
        names = set(json.loads((await call(executor, "env")).content))
    assert "OPENAI_API_KEY" not in names and "GIVEN" in names
    # Python adds LC_CTYPE to its own environment on some hosts; nothing else may appear.
    assert names - {"LC_CTYPE"} <= {"PATH", "HOME", "LANG", "GIVEN"}


async def test_structured_content_names_and_descriptions() -> None:
    async with running(bad_server(prefix="b_")) as (toolset, executor):
        assert (await call(executor, "b_structured")).content == '{"answer":42}'
        assert (await call(executor, "b_weird_name_with_spaces")).content == (
            "weird.name with spaces ran"
        )
        hidden = next(t for t in toolset.tools if t.name == "b_hidden")
        assert "<U+200B><U+202E>ignore" in hidden.description
        assert hidden.policy.metadata == {"mcp_server": "bad", "mcp_tool": "hidden"}


async def test_every_guard_applies_to_mcp_tools() -> None:
    config = bad_server(
        tools={
            "echo": ToolOverride(cache_ttl=60, rate_limit=None),
            "env": ToolOverride(requires_approval=True),
            "slow": ToolOverride(scopes=frozenset({"admin"})),
            "structured": ToolOverride(rate_limit=__import__("mainspring").tools.RateLimit(1, 60)),
        }
    )
    async with running(config) as (_, executor):
        await call(executor, "echo", {"text": "a"})
        assert (await call(executor, "echo", {"text": "a"})).cached
        invalid = await call(executor, "echo", {"text": 3})
        assert invalid.error is not None and invalid.error.kind == "invalid_arguments"
        approval = await call(executor, "env")
        assert approval.error is not None and approval.error.kind == "approval_required"
        forbidden = await call(executor, "slow", {"seconds": 0}, principal=Principal("bob"))
        assert forbidden.error is not None and forbidden.error.kind == "forbidden"
        await call(executor, "structured")
        limited = await call(executor, "structured")
        assert limited.error is not None and limited.error.kind == "rate_limited"


async def test_collisions_are_errors_unless_a_prefix_separates_them() -> None:
    with pytest.raises(MCPConfigError, match="'echo'.*collides"):
        async with running(bad_server("one"), bad_server("two")):
            pass
    async with running(bad_server("one"), bad_server("two", prefix="two_")) as (toolset, _):
        names = {t.name for t in toolset.tools}
        assert {"echo", "two_echo"} <= names

    @tool
    def echo(text: str) -> str:
        """A built-in echo."""
        return text

    registry = ToolRegistry([echo])
    async with MCPToolset([bad_server()]) as toolset:
        with pytest.raises(DuplicateToolError, match="prefix"):
            toolset.register(registry)
    with pytest.raises(MCPConfigError, match="registered tool"):
        async with MCPToolset([bad_server()], reserved=["echo"]):
            pass


async def test_a_server_that_cannot_start_or_answer_fails_with_its_name() -> None:
    missing = MCPServerConfig("ghost", StdioTarget("/nonexistent/mcp-server"))
    with pytest.raises(MCPConnectionError, match="MCP server 'ghost'.*nonexistent"):
        async with MCPToolset([missing]):
            pass
    silent = MCPServerConfig(
        "mute",
        StdioTarget(
            sys.executable,
            (
                "-c",
                "import sys, time; print('booting', file=sys.stderr, flush=True); time.sleep(60)",
            ),
        ),
        connect_timeout=1,
    )
    with pytest.raises(MCPConnectionError, match="'mute'.*within 1s") as caught:
        async with MCPToolset([silent]):
            pass
    assert "booting" in str(caught.value)
