"""Tamper-evident audit log: one hash-chained record per tool call and per model call."""

from mainspring.audit.base import AuditEntry, AuditLog, AuditRecord
from mainspring.audit.jsonl import FsyncPolicy, JsonlAuditLog
from mainspring.audit.sink import AuditSink
from mainspring.audit.sqlite import SqliteAuditLog
from mainspring.audit.verify import VerifyReport, verify_bodies, verify_log

__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditRecord",
    "AuditSink",
    "FsyncPolicy",
    "JsonlAuditLog",
    "SqliteAuditLog",
    "VerifyReport",
    "verify_bodies",
    "verify_log",
]
