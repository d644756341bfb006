"""The client against a 2026-07-28 server: list changes through listen, and Streamable HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from mainspring.errors import MCPConnectionError
from mainspring.mcp import HttpTarget, MCPServerConfig, MCPToolset, StdioTarget
from mainspring.messages import ToolCall
from mainspring.tools import ToolExecutor, ToolRegistry

pytestmark = pytest.mark.slow
MODERN = Path(__file__).parent / "modern_server.py"


async def grow_and_wait(config: MCPServerConfig) -> None:
    registry = ToolRegistry()
    async with MCPToolset([config]) as toolset:
        toolset.register(registry)
        executor = ToolExecutor(registry)
        added = await executor.execute(ToolCall("1", "m_add", {"a": 2, "b": 3}))
        assert added.ok and added.content == '{"result":5}'  # structured content kept
        assert (await executor.execute(ToolCall("2", "m_grow", {}))).content == '{"result":"grown"}'
        with anyio.fail_after(15):
            while "m_shrink" not in registry:  # noqa: ASYNC110 - the registry has no event
                await anyio.sleep(0.05)
        assert (
            await executor.execute(ToolCall("3", "m_shrink", {"x": 9}))
        ).content == '{"result":4}'
        assert toolset.connection(config.name).connects == 1


async def test_a_modern_stdio_server_announces_changes_through_listen() -> None:
    await grow_and_wait(
        MCPServerConfig("modern", StdioTarget(sys.executable, (str(MODERN),)), prefix="m_")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_http(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, str(MODERN), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)


@pytest.fixture
def http_url() -> Iterator[str]:
    port = free_port()
    process = start_http(port)
    yield f"http://127.0.0.1:{port}/mcp"
    # kill, not terminate: uvicorn's graceful stop would wait for open listen streams.
    process.kill()
    process.wait(timeout=10)


async def test_a_streamable_http_server(http_url: str) -> None:
    await grow_and_wait(
        MCPServerConfig("remote", HttpTarget(http_url, headers={"X-Test": "1"}), prefix="m_")
    )


async def test_an_http_server_that_goes_away_is_reconnected() -> None:
    port = free_port()
    process = start_http(port)
    registry = ToolRegistry()
    config = MCPServerConfig("remote", HttpTarget(f"http://127.0.0.1:{port}/mcp"))
    try:
        async with MCPToolset([config]) as toolset:
            toolset.register(registry)
            executor = ToolExecutor(registry)
            assert (await executor.execute(ToolCall("1", "add", {"a": 1, "b": 1}))).ok
            process.kill()
            process.wait(timeout=10)
            lost = await executor.execute(ToolCall("2", "add", {"a": 1, "b": 1}))
            assert lost.error is not None and "reconnecting" in lost.content
            process = await anyio.to_thread.run_sync(start_http, port)
            back = await executor.execute(ToolCall("3", "add", {"a": 1, "b": 1}))
            assert back.ok, back.content
            assert toolset.connection("remote").connects == 2
    finally:
        process.kill()
        process.wait(timeout=10)


async def test_an_http_server_that_is_not_there_fails_with_its_name() -> None:
    port = free_port()
    config = MCPServerConfig(
        "absent", HttpTarget(f"http://127.0.0.1:{port}/mcp"), connect_timeout=5
    )
    with pytest.raises(MCPConnectionError, match="'absent'.*URL"):
        async with MCPToolset([config]):
            pass
