"""Tamper-evident audit log: one hash-chained record per tool call and per model call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mainspring.audit.base import AuditEntry, AuditLog, AuditRecord, Unreadable
from mainspring.audit.files import verify_file, verify_file_sync
from mainspring.audit.jsonl import FsyncPolicy, JsonlAuditLog
from mainspring.audit.sink import AuditSink
from mainspring.audit.sqlite import SqliteAuditLog
from mainspring.audit.verify import VerifyReport, verify_bodies, verify_log

if TYPE_CHECKING:
    from mainspring.audit.postgres import PostgresAuditLog


def __getattr__(name: str) -> Any:
    # PostgreSQL support is optional (`mainspring[postgres]`): import it only when asked for.
    if name == "PostgresAuditLog":
        from mainspring.audit.postgres import PostgresAuditLog

        return PostgresAuditLog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditRecord",
    "AuditSink",
    "FsyncPolicy",
    "JsonlAuditLog",
    "PostgresAuditLog",
    "SqliteAuditLog",
    "Unreadable",
    "VerifyReport",
    "verify_bodies",
    "verify_file",
    "verify_file_sync",
    "verify_log",
]
