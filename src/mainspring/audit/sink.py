"""Feeding the audit log: a subscriber of the hooks surface, one record per tool and model call.

`AuditSink` converts the surface's records (already redacted and sanitised, see
`mainspring.hooks`) into `AuditEntry`s, the audit log's stored shape. Give it to
`Agent(audit=...)` and it receives every model call and every tool call of every run, the
planner's and the summariser's included; give it to `ToolExecutor(hooks=[...])` to audit tool
calls made outside an agent.

Records are queued as calls finish and written by the log's writer thread together with
whatever else is being written at that moment (other runs' records, the run's journal); the sink
waits for a run's queued records before its next model call is sent and before the run's end is
announced, so a step's records are durable (per the log's fsync policy) before the next step.
Only records of a run the sink saw start are queued: a call outside a run (a `ToolExecutor`
serving MCP or a script) has no next step to wait at, so its record is written before the
call returns. A log without `append_soon` is awaited per record. `flush()` and `aclose()` wait
for everything queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from mainspring._writer import settled
from mainspring.audit.base import AuditEntry, AuditLog
from mainspring.hooks import Hooks, ModelCallRecord, RunSpan, ToolCallRecord, clean_data

logger = logging.getLogger("mainspring.audit")


def entry_from_tool_record(record: ToolCallRecord) -> AuditEntry:
    """The audit entry of one finished tool call."""
    result = record.result
    assert result is not None  # audited when finished
    return AuditEntry(
        "tool_call",
        record.call.name,
        time=record.time,
        run_id=record.run_id,
        principal=record.principal,
        arguments=clean_data(record.call.arguments),
        outcome="ok" if result.ok else "error",
        error_kind=None if result.error is None else result.error.kind,
        latency_ms=round(result.latency_ms, 3),
        call_id=record.call.id,
        detail={
            "cached": result.cached,
            "tool_hash": record.tool_hash,
            "step": record.step,
            "provenance": [{"call_id": p.call_id, "tool": p.tool} for p in record.provenance],
        },
    )


def entry_from_model_record(record: ModelCallRecord) -> AuditEntry:
    """The audit entry of one finished (or failed) model call."""
    response = record.response
    usage = response.usage if response is not None else None
    calls = [c.name for c in response.message.tool_calls] if response is not None else []
    return AuditEntry(
        "model_call",
        record.model,
        time=record.time,
        run_id=record.run_id,
        principal=record.principal,
        outcome="ok" if record.error is None else "error",
        error_kind=None if record.error is None else "model_error",
        latency_ms=round(record.latency_ms, 3),
        cost_usd=usage.cost_usd if usage is not None else 0.0,
        call_id=f"{record.call_id}@{record.step}",
        detail={
            "step": record.step,
            "input_tokens": usage.input_tokens if usage is not None else 0,
            "output_tokens": usage.output_tokens if usage is not None else 0,
            "tool_calls": calls,
            "error": record.error,
        },
    )


class AuditSink(Hooks):
    """Seals every finished tool call and model call into an audit log (see the module)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._queued: dict[str | None, list[asyncio.Future[Any]]] = {}
        self._runs: set[str] = set()
        """Runs started and not yet finished: their records may wait for the next step."""

    async def _append(self, entry: AuditEntry) -> None:
        soon = getattr(self.log, "append_soon", None)
        if soon is None or entry.run_id not in self._runs:
            await self.log.append([entry])
            return
        queued: asyncio.Future[Any] = soon([entry])
        self._queued.setdefault(entry.run_id, []).append(queued)
        queued.add_done_callback(lambda done: self._written(entry.run_id, done))

    def _written(self, run_id: str | None, done: asyncio.Future[Any]) -> None:
        pending = self._queued.get(run_id)
        if pending is not None:
            pending.remove(done)
            if not pending:
                del self._queued[run_id]
        if not done.cancelled() and done.exception() is not None:
            logger.error("could not write an audit record", exc_info=done.exception())

    async def _wait(self, run_id: str | None) -> None:
        queued = self._queued.get(run_id)
        if queued:
            await settled(queued)

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Queue one tool-call record."""
        await self._append(entry_from_tool_record(record))

    async def model_started(self, record: ModelCallRecord) -> None:
        """The run's earlier records are written before its next model call is sent."""
        await self._wait(record.run_id)

    async def model_finished(self, record: ModelCallRecord) -> None:
        """Queue one model-call record."""
        await self._append(entry_from_model_record(record))

    async def run_started(self, run: RunSpan) -> None:
        """From now on the run's records are queued until its next step or its end."""
        self._runs.add(run.run_id)

    async def run_finished(self, run: RunSpan) -> None:
        """The run's records are written before its end is announced further."""
        try:
            await self._wait(run.run_id)
        finally:
            self._runs.discard(run.run_id)

    async def record(self, entry: AuditEntry) -> None:
        """Append any other entry (written when this returns)."""
        await self.log.append([entry])

    async def flush(self) -> None:
        """Wait for every record queued so far."""
        await settled([queued for run in self._queued.values() for queued in run])

    async def aclose(self) -> None:
        """Write what is queued, then close the log."""
        await self.flush()
        await self.log.aclose()


def matches(body: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    """Whether a stored record matches every given filter (run_id, name, principal, outcome)."""
    return all(value is None or body.get(field) == value for field, value in filters.items())
