"""What mainspring adds to an MCP tool call, over the bare SDK `Client.call_tool`.

Run: `python -m bench mcp`. The same trivial server (`bench/_mcp_echo_server.py`) is called over
stdio and over Streamable HTTP, once through the SDK's `Client` and once through `MCPToolset`
and a `ToolExecutor` with the default guards (validation, the tool's and the server's breakers,
timeout) and an event sink. The two paths alternate call by call, so machine noise hits both alike.
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
CALLS = 2_000
WARMUP = 50


async def _timed_us(call: Callable[[int], Awaitable[object]], i: int) -> float:
    start = time.perf_counter()
    await call(i)
    return (time.perf_counter() - start) * 1e6


async def _compare(bare_client: Client, config: MCPServerConfig) -> tuple[float, float, float]:
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

        # Time inside the SDK's call_tool, so mainspring's own share of each call is measured
        # on the same calls, free of the noise between two separate ones.
        connection = toolset.connection("bench")
        sdk_call = connection.call
        inner_us: list[float] = []

        async def timed_sdk_call(name: str, arguments: dict[str, object]) -> object:
            start = time.perf_counter()
            try:
                return await sdk_call(name, arguments)
            finally:
                inner_us.append((time.perf_counter() - start) * 1e6)

        connection.call = timed_sdk_call  # type: ignore[method-assign,assignment]
        bare_us: list[float] = []
        ours_us: list[float] = []
        for i in range(WARMUP):
            await bare(i)
            await ours(i)
        # One call of each in turn: a burst of load from the shared machine hits both alike,
        # and the median of single calls ignores the bursts.
        for i in range(CALLS):
            bare_us.append(await _timed_us(bare, i))
            ours_us.append(await _timed_us(ours, i))
        own_us = [o - i for o, i in zip(ours_us, inner_us[-CALLS:], strict=True)]
    return statistics.median(bare_us), statistics.median(ours_us), statistics.median(own_us)


async def _stdio() -> tuple[float, float, float]:
    params = StdioServerParameters(command=sys.executable, args=list(ARGS))
    async with Client(params) as client:
        return await _compare(client, MCPServerConfig("bench", StdioTarget(sys.executable, ARGS)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _http(url: str) -> tuple[float, float, float]:
    async with (
        httpx2.AsyncClient() as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await _compare(client, MCPServerConfig("bench", HttpTarget(url)))


def _run_http() -> tuple[float, float, float]:
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


def _row(label: str, bare: float, ours: float, own: float) -> str:
    extra = ours - bare
    return (
        f"| {label} | {bare:,.0f} | {ours:,.0f} | {extra:,.0f} ({extra / bare:.1%}) "
        f"| {own:,.0f} ({own / bare:.1%}) |"
    )


def main() -> str:
    stdio = anyio.run(_stdio)
    http = _run_http()
    return "\n".join(
        [
            "## MCP client overhead (`bench/mcp.py`)",
            "",
            f"Per call, median of {CALLS:,} sequential calls each way, one bare and one through "
            "mainspring in turn, of a trivial tool on one server (`_mcp_echo_server.py`, SDK "
            "`MCPServer`, protocol 2026-07-28). mainspring = `MCPToolset` + `ToolExecutor` "
            "with the default guards (validation, tool and server breakers, timeout) and an "
            "event sink.",
            "",
            "| transport | bare SDK `call_tool` µs | mainspring µs | difference µs | "
            "mainspring's own µs |",
            "| --- | ---: | ---: | ---: | ---: |",
            _row("stdio", *stdio),
            _row("Streamable HTTP", *http),
            "",
            "`difference` compares two separate calls; `mainspring's own` is the time of each "
            "mainspring call spent outside the SDK's `call_tool` (guards, breakers, result "
            "conversion, event), measured on the same calls, so it is the steadier figure. "
            "The SDK call inside mainspring runs over mainspring's own stdio transport.",
            "",
            "Target: under 10% of the stdio round trip.",
        ]
    )


if __name__ == "__main__":
    print(main())
