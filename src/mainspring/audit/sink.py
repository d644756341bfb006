"""Feeding the audit log: a subscriber of the hooks surface, one record per tool and model call.

`AuditSink` converts the surface's records (already redacted and sanitised, see
`mainspring.hooks`) into `AuditEntry`s, the audit log's stored shape. Give it to
`Agent(audit=...)` and it receives every model call and every tool call of every run, the
planner's and the summariser's included; give it to `ToolExecutor(hooks=[...])` to audit tool
calls made outside an agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mainspring.audit.base import AuditEntry, AuditLog
from mainspring.hooks import Hooks, ModelCallRecord, ToolCallRecord, clean_data


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
    """Seals every finished tool call and model call into an audit log before the call returns."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Append one tool-call record."""
        await self.log.append([entry_from_tool_record(record)])

    async def model_finished(self, record: ModelCallRecord) -> None:
        """Append one model-call record."""
        await self.log.append([entry_from_model_record(record)])

    async def record(self, entry: AuditEntry) -> None:
        """Append any other entry."""
        await self.log.append([entry])

    async def aclose(self) -> None:
        """Close the log."""
        await self.log.aclose()


def matches(body: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    """Whether a stored record matches every given filter (run_id, name, principal, outcome)."""
    return all(value is None or body.get(field) == value for field, value in filters.items())
