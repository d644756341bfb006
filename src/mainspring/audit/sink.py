"""Feeding the audit log: tool-call events from the executor, model calls from the agent loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mainspring.audit.base import AuditEntry, AuditLog
from mainspring.tools.events import ToolCallEvent


def entry_from_tool_event(event: ToolCallEvent) -> AuditEntry:
    """The audit entry for one tool call (arguments arrive already redacted)."""
    return AuditEntry(
        "tool_call",
        event.tool,
        time=event.time.isoformat(),
        run_id=event.run_id,
        principal=event.principal,
        arguments=event.arguments,
        outcome="ok" if event.ok else "error",
        error_kind=event.error_kind,
        latency_ms=round(event.latency_ms, 3),
        call_id=event.call_id,
        detail={"cached": event.cached, "tool_hash": event.tool_hash},
    )


class AuditSink:
    """An `EventSink` that seals every tool call into an audit log before the call returns."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    async def emit(self, event: ToolCallEvent) -> None:
        """Append one tool-call record."""
        await self.log.append([entry_from_tool_event(event)])

    async def record(self, entry: AuditEntry) -> None:
        """Append any other record (the agent loop uses it for model calls)."""
        await self.log.append([entry])

    async def aclose(self) -> None:
        """Close the log."""
        await self.log.aclose()


def matches(body: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    """Whether a stored record matches every given filter (run_id, name, principal, outcome)."""
    return all(value is None or body.get(field) == value for field, value in filters.items())
