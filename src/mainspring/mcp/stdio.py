"""Running a stdio MCP server safely: a minimal environment, stderr drained, deaths noticed.

The SDK's own `stdio_client` gives the child a wider default environment and writes its stderr
to ours. Here the child gets only the variables its configuration names plus PATH, HOME and
LANG (API keys stay with the agent), its stderr is read line by line into the `mainspring.mcp`
logger and a bounded tail (a chatty server never blocks on a full pipe, and a crash can be
explained), and the end of its stdout tells the toolset the server is gone.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress

import anyio
import anyio.abc

from mainspring.mcp._sdk import (
    SessionMessage,
    TransportStreams,
    terminate_posix_process_tree,
    types,
)
from mainspring.mcp.base import StdioTarget

logger = logging.getLogger("mainspring.mcp")

BASE_VARIABLES = ("PATH", "HOME", "LANG")
"""Passed through from the parent when set; everything else must be named in `env`."""
MAX_LINE_BYTES = 16 * 1024 * 1024
"""A stdout line longer than this is a broken server, not a message (the read stops)."""
_STDERR_LINE_CHARS = 2_000
_GRACE_SECONDS = 2.0


def server_environment(
    env: Mapping[str, str], parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """PATH, HOME and LANG from `parent` (this process by default), then the configured `env`."""
    source = os.environ if parent is None else parent
    base = {k: source[k] for k in BASE_VARIABLES if k in source}
    return base | dict(env)


class StderrTail:
    """Keeps the last lines a server wrote to stderr and logs each one."""

    def __init__(self, server: str, *, lines: int = 50) -> None:
        self.server = server
        self._lines: deque[str] = deque(maxlen=lines)

    def add(self, line: str) -> None:
        """Record one line (cut to 2,000 characters) and log it at DEBUG."""
        line = line.rstrip("\r\n")[:_STDERR_LINE_CHARS]
        self._lines.append(line)
        logger.debug("MCP server %r stderr: %s", self.server, line)

    def text(self) -> str:
        """The kept lines, oldest first."""
        return "\n".join(self._lines)


async def _drain_stderr(stream: anyio.abc.ByteReceiveStream, tail: StderrTail) -> None:
    buffer = b""
    with suppress(anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
        async for chunk in stream:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                tail.add(line.decode(errors="replace"))
            if len(buffer) > _STDERR_LINE_CHARS:  # a line with no end: keep the head, go on
                tail.add(buffer.decode(errors="replace"))
                buffer = b""
    if buffer:
        tail.add(buffer.decode(errors="replace"))


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        logger.warning("MCP server sent a line that is not JSON-RPC: %.200r", line)
        return exc


async def _read_stdout(
    process: anyio.abc.Process,
    sink: anyio.abc.ObjectSendStream[SessionMessage | Exception],
    on_exit: Callable[[], None],
) -> None:
    assert process.stdout is not None
    buffer = b""
    try:
        async with sink:
            async for chunk in process.stdout:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        await sink.send(_parse(line))
                if len(buffer) > MAX_LINE_BYTES:
                    logger.warning("MCP server wrote a line over %d bytes; closing", MAX_LINE_BYTES)
                    return
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
        pass
    finally:
        on_exit()


async def _write_stdin(
    process: anyio.abc.Process, source: anyio.abc.ObjectReceiveStream[SessionMessage]
) -> None:
    assert process.stdin is not None
    with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        async with source:
            async for message in source:
                text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                await process.stdin.send(text.encode() + b"\n")


async def _stop(process: anyio.abc.Process) -> None:
    """Close stdin, give the server a grace period, then kill its whole process group."""
    assert process.stdin is not None
    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    with anyio.move_on_after(_GRACE_SECONDS):
        # Polled, not process.wait(): that also waits for EOF on pipes a grandchild may hold.
        while process.returncode is None:  # noqa: ASYNC110
            await anyio.sleep(0.02)
    if process.returncode is None:
        await terminate_posix_process_tree(process, _GRACE_SECONDS)
    with anyio.move_on_after(_GRACE_SECONDS):
        await process.wait()


@asynccontextmanager
async def stdio_transport(
    target: StdioTarget, tail: StderrTail, on_exit: Callable[[], None]
) -> AsyncIterator[TransportStreams]:
    """Start the server and yield the SDK's (read, write) streams; `on_exit` fires at EOF."""
    process = await anyio.open_process(
        [target.command, *target.args],
        env=server_environment(target.env),
        cwd=target.cwd,
        start_new_session=True,  # its own process group, so a kill reaches its children
    )
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](0)
    async with anyio.create_task_group() as group:
        assert process.stderr is not None
        group.start_soon(_drain_stderr, process.stderr, tail)
        group.start_soon(_read_stdout, process, read_send, on_exit)
        group.start_soon(_write_stdin, process, write_receive)
        try:
            yield read_receive, write_send
        finally:
            with anyio.CancelScope(shield=True):
                await write_send.aclose()
                await read_receive.aclose()
                await _stop(process)
            group.cancel_scope.cancel()
