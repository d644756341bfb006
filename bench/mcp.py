"""What mainspring adds to an MCP tool call, over the bare SDK `Client.call_tool`.

Run: `python -m bench mcp`. The same trivial server (`bench/_mcp_echo_server.py`) is called over
stdio and over Streamable HTTP, once through the SDK's `Client` and once through `MCPToolset`
and a `ToolExecutor` with the default guards (validation, the tool's and the server's breakers,
timeout) and an event sink. Rounds of the two paths alternate, so machine noise hits both alike.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client

from mainspring.mcp import HttpTarget, MCPServerConfig, MCPToolset, StdioTarget
from mainspring.messages import ToolCall
from mainspring.tools import InMemoryEventSink, ToolExecutor, ToolRegistry
from mcp import Client, StdioServerParameters

SERVER = str(Path(__file__).parent / "_mcp_echo_server.py")
# -I: the script's directory (bench/, which holds this mcp.py) must not shadow the SDK.
ARGS = ("-I", SERVER)
CALLS = 300
ROUNDS = 7


async def _round_us(call: Callable[[int], Awaitable[object]]) -> float:
    for i in range(20):  # warm-up
        await call(i)
    start = time.perf_counter()
    for i in range(CALLS):
        await call(i)
    return (time.perf_counter() - start) / CALLS * 1e6


async def _compare(bare_client: Client, config: MCPServerConfig) -> tuple[float, float]:
    registry = ToolRegistry()
    async with MCPToolset([config]) as toolset:
        toolset.register(registry)
        executor = ToolExecutor(registry, sinks=[InMemoryEventSink()])

        async def ours(i: int) -> object:
            result = await executor.execute(ToolCall("b", "echo", {"x": i}))
            assert result.ok, result.content
            return result

        async def bare(i: int) -> object:
            result = await bare_client.call_tool("echo", {"x": i})
            assert not result.is_error
            return result

        bare_us: list[float] = []
        ours_us: list[float] = []
        for _ in range(ROUNDS):
            bare_us.append(await _round_us(bare))
            ours_us.append(await _round_us(ours))
    return statistics.median(bare_us), statistics.median(ours_us)


async def _stdio() -> tuple[float, float]:
    params = StdioServerParameters(command=sys.executable, args=list(ARGS))
    async with Client(params) as client:
        return await _compare(client, MCPServerConfig("bench", StdioTarget(sys.executable, ARGS)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _http(url: str) -> tuple[float, float]:
    async with (
        httpx2.AsyncClient() as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await _compare(client, MCPServerConfig("bench", HttpTarget(url)))


def _run_http() -> tuple[float, float]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, *ARGS, "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        return anyio.run(_http, f"http://127.0.0.1:{port}/mcp")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _row(label: str, bare: float, ours: float) -> str:
    extra = ours - bare
    return f"| {label} | {bare:,.0f} | {ours:,.0f} | {extra:,.0f} | {extra / bare:.1%} |"


def main() -> str:
    stdio = anyio.run(_stdio)
    http = _run_http()
    return "\n".join(
        [
            "## MCP client overhead (`bench/mcp.py`)",
            "",
            f"Per call, median of {ROUNDS} alternating rounds of {CALLS} sequential calls of a "
            "trivial tool on one server (`_mcp_echo_server.py`, SDK `MCPServer`, protocol "
            "2026-07-28). mainspring = `MCPToolset` + `ToolExecutor` with the default guards "
            "(validation, tool and server breakers, timeout) and an event sink.",
            "",
            "| transport | bare SDK `call_tool` µs | mainspring µs | added µs | added |",
            "| --- | ---: | ---: | ---: | ---: |",
            _row("stdio", *stdio),
            _row("Streamable HTTP", *http),
            "",
            "Target: under 10% of the stdio round trip.",
        ]
    )


if __name__ == "__main__":
    print(main())
