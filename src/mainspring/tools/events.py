"""Structured events, one per executed tool call, delivered to pluggable sinks.

A sink is a small subscriber of the hooks surface: `SinkHooks` turns each finished
`ToolCallRecord` (already redacted and sanitised) into a flat `ToolCallEvent` for `emit`.
Sinks are small: `emit` and `aclose`. The JSON-lines sink batches writes off the event loop.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
from pydantic_core import to_jsonable_python

from mainspring.hooks import Hooks, ToolCallRecord
from mainspring.messages import ToolErrorKind


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """What happened in one tool call: enough to debug, audit and bill it."""

    time: dt.datetime
    run_id: str | None
    principal: str
    tool: str
    call_id: str
    arguments: Mapping[str, Any]
    """Arguments with the tool's secret parameters redacted."""
    ok: bool
    error_kind: ToolErrorKind | None
    latency_ms: float
    cached: bool
    tool_hash: str | None
    step: int = 0
    provenance: tuple[dict[str, str], ...] = ()
    """`{"call_id", "tool"}` of the tool results in the model's context at this call."""

    @classmethod
    def from_record(cls, record: ToolCallRecord) -> ToolCallEvent:
        """The flat event of a finished call's record."""
        result = record.result
        assert result is not None  # sinks only see finished calls
        return cls(
            time=dt.datetime.fromisoformat(record.time),
            run_id=record.run_id,
            principal=record.principal or "",
            tool=record.call.name,
            call_id=record.call.id,
            arguments=record.call.arguments,
            ok=result.ok,
            error_kind=None if result.error is None else result.error.kind,
            latency_ms=result.latency_ms,
            cached=result.cached,
            tool_hash=record.tool_hash,
            step=record.step,
            provenance=tuple({"call_id": p.call_id, "tool": p.tool} for p in record.provenance),
        )

    def to_json(self) -> str:
        """One JSON line."""
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return json.dumps(to_jsonable_python(data, fallback=repr), separators=(",", ":"))


class EventSink(Protocol):
    """Receives every tool-call event."""

    async def emit(self, event: ToolCallEvent) -> None:
        """Accept one event. Must be quick: it is awaited on the call path."""
        ...

    async def aclose(self) -> None:
        """Flush and release resources."""
        ...


class SinkHooks(Hooks):
    """Feeds an `EventSink` from the hooks surface: one event per finished tool call."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Emit the call's event."""
        await self.sink.emit(ToolCallEvent.from_record(record))


class JsonlEventSink:
    """Appends events to a JSON-lines file, in batches written from a worker thread.

    Events are buffered up to `batch_size` and written (with flush) when the buffer is full and
    on `aclose()`/`flush()`. A crash loses at most one unflushed batch; use a batch size of 1
    when every event must reach the disk before the call returns.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 64) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._batch_size = max(1, batch_size)
        self._buffer: list[str] = []
        self._lock = anyio.Lock()

    async def emit(self, event: ToolCallEvent) -> None:
        """Buffer the event; write the batch when full."""
        self._buffer.append(event.to_json())
        if len(self._buffer) >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        """Write everything buffered."""
        async with self._lock:
            lines, self._buffer = self._buffer, []
            if lines:
                await anyio.to_thread.run_sync(self._write, lines)

    def _write(self, lines: list[str]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    async def aclose(self) -> None:
        """Write what is left."""
        await self.flush()


class InMemoryEventSink:
    """Keeps events in a list: for tests and for inspecting a run in a notebook."""

    def __init__(self) -> None:
        self.events: list[ToolCallEvent] = []

    async def emit(self, event: ToolCallEvent) -> None:
        """Keep the event."""
        self.events.append(event)

    async def aclose(self) -> None:
        """Nothing to release."""
