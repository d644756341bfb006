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


@pytest.fixture
def http_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(MODERN), "http", str(port)], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=10)


async def test_a_streamable_http_server(http_url: str) -> None:
    await grow_and_wait(
        MCPServerConfig("remote", HttpTarget(http_url, headers={"X-Test": "1"}), prefix="m_")
    )


async def test_an_http_server_that_is_not_there_fails_with_its_name() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = MCPServerConfig(
        "absent", HttpTarget(f"http://127.0.0.1:{port}/mcp"), connect_timeout=5
    )
    with pytest.raises(MCPConnectionError, match="'absent'.*URL"):
        async with MCPToolset([config]):
            pass
