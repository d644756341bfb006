"""A Redis that refuses, hangs or is frozen: calls end as `unavailable`, bounded, never raising.

The hung servers are our own (a TCP listener that never answers, a `redis-server` on another
port stopped with SIGSTOP); the shared Redis on 6379 is not touched here.
"""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import anyio
import pytest

from mainspring.agent import Agent
from mainspring.messages import ToolCall
from mainspring.testing import ScriptedModel, text, tool_calls
from mainspring.tools import ToolExecutor, ToolRegistry, tool
from mainspring.tools.guards import RedisBackend
from tests.conftest import service_unavailable

REFUSED = "redis://127.0.0.1:1/0"  # nothing listens on port 1
HANG_GUARD = 20.0  # seconds; only to turn a hang into a failure (redis-py's defaults: ~1 min)


@tool(rate_limit="100/s", breaker=3, timeout=0.5)
def guarded(x: int) -> int:
    """A tool whose rate limit and breaker live in Redis."""
    return x


@tool
def plain(x: int) -> int:
    """A tool with no shared state."""
    return x


@pytest.fixture
def hung_listener() -> Iterator[str]:
    """A TCP server that accepts connections and never answers a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def frozen_redis() -> Iterator[str]:
    """A real redis-server of our own, frozen with SIGSTOP after it answered once."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_unavailable("redis-server (to start a private one)", FileNotFoundError("PATH"))
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        os.kill(proc.pid, signal.SIGSTOP)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


async def test_refused_redis_is_unavailable_and_listing_tools_does_not_raise() -> None:
    backend = RedisBackend.from_url(REFUSED)
    registry = ToolRegistry([guarded, plain], backend=backend)
    executor = ToolExecutor(registry)
    with anyio.fail_after(HANG_GUARD):
        result = await executor.execute(ToolCall("1", "guarded", {"x": 1}))
        assert result.error is not None and result.error.kind == "unavailable"
        assert "rate limit backend failed" in result.content and "not run" in result.content
        assert await registry.status("guarded") == "unavailable"
        assert [s["function"]["name"] for s in await registry.schemas()] == ["plain"]
        stats = await registry.stats()
    assert stats["guarded"].status == "unavailable" and stats["guarded"].errors == 0
    await backend.aclose()


async def test_agent_run_survives_a_refused_redis() -> None:
    backend = RedisBackend.from_url(REFUSED)
    registry = ToolRegistry([guarded, plain], backend=backend)
    script = [tool_calls(("guarded", {"x": 2})), text("Redis is down, sorry.")]
    with anyio.fail_after(HANG_GUARD), ScriptedModel(script) as model:
        result = await Agent(model, registry).run("use the guarded tool")
    assert result.ok and result.output == "Redis is down, sorry."
    assert [t.name for t in model.requests[0].tools] == ["plain"]  # not offered a failing call
    observation = model.requests[1].messages[-1].content
    assert "rate limit backend failed" in observation
    await backend.aclose()


async def test_a_hung_redis_is_cut_at_the_tools_timeout(hung_listener: str) -> None:
    # No client timeouts at all: only the call's own deadline can end the wait.
    backend = RedisBackend.from_url(hung_listener, socket_timeout=None, socket_connect_timeout=None)
    executor = ToolExecutor(ToolRegistry([guarded], backend=backend))
    with anyio.fail_after(HANG_GUARD):
        result = await executor.execute(ToolCall("1", "guarded", {"x": 1}))
    assert result.error is not None and result.error.kind == "unavailable"
    assert "did not answer within the call's 0.5s time limit" in result.content
    assert (await executor.registry.stats())["guarded"].errors == 0


async def test_a_hung_redis_is_bounded_by_the_client_timeouts(hung_listener: str) -> None:
    @tool(rate_limit="5/s")
    def no_timeout(x: int) -> int:
        """Declares no timeout; the executor has none either."""
        return x

    backend = RedisBackend.from_url(hung_listener)
    registry = ToolRegistry([no_timeout], backend=backend, status_timeout=0.2)
    executor = ToolExecutor(registry, default_timeout=None)
    with anyio.fail_after(HANG_GUARD):
        result = await executor.execute(ToolCall("1", "no_timeout", {"x": 1}))
        assert result.error is not None and result.error.kind == "unavailable"
        assert "Timeout" in result.content or "timed out" in result.content
        assert await registry.status("no_timeout") == "unavailable"


async def test_a_frozen_redis_server_is_unavailable_within_the_timeout(frozen_redis: str) -> None:
    backend = RedisBackend.from_url(frozen_redis, socket_timeout=None, socket_connect_timeout=None)
    registry = ToolRegistry([guarded, plain], backend=backend, status_timeout=0.2)
    executor = ToolExecutor(registry)
    with anyio.fail_after(HANG_GUARD):
        result = await executor.execute(ToolCall("1", "guarded", {"x": 1}))
        assert result.error is not None and result.error.kind == "unavailable"
        assert "0.5s time limit" in result.content
        assert [t.name for t in await registry.available()] == ["plain"]
