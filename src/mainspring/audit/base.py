"""Audit records, the hash chain that links them, and the protocol every audit log implements.

Each record carries `seq` (1, 2, 3, ...), the hash of the record before it (`prev`), and its own
hash over its canonical JSON. Editing a record breaks its hash; deleting, inserting or reordering
records breaks `seq` or `prev`. With a secret HMAC key, nobody without the key can recompute the
chain after tampering. Removing records from the END cannot be seen from the log alone: compare
the head (`seq`, `hash`) with a copy kept elsewhere (`verify(..., anchor=...)`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, Protocol

from pydantic_core import to_jsonable_python

RecordKind = Literal["tool_call", "model_call"]
GENESIS = "0" * 64
"""The `prev` of the first record."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, before it is sealed into the chain."""

    kind: RecordKind
    name: str
    """The tool or model called."""
    _: KW_ONLY
    time: str
    """ISO 8601, UTC."""
    run_id: str | None = None
    principal: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict[str, Any])
    """Secret parameters already redacted."""
    outcome: Literal["ok", "error"] = "ok"
    error_kind: str | None = None
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    call_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict[str, Any])
    """Anything else worth keeping (tokens, tool hash, cached)."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A sealed entry: its place in the chain and the hashes that bind it there."""

    seq: int
    entry: AuditEntry
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The JSON object stored for this record (hash included)."""
        return {**_entry_dict(self.entry), "seq": self.seq, "prev": self.prev, "hash": self.hash}

    def to_json(self) -> str:
        """One line of the JSON-lines log."""
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _entry_dict(entry: AuditEntry) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable_python(
        {
            "kind": entry.kind,
            "name": entry.name,
            "time": entry.time,
            "run_id": entry.run_id,
            "principal": entry.principal,
            "arguments": entry.arguments,
            "outcome": entry.outcome,
            "error_kind": entry.error_kind,
            "latency_ms": entry.latency_ms,
            "cost_usd": entry.cost_usd,
            "call_id": entry.call_id,
            "detail": entry.detail,
        },
        fallback=repr,
    )
    return data


def compute_hash(body: Mapping[str, Any], key: bytes | None) -> str:
    """SHA-256 (or HMAC-SHA-256 with `key`) of the body's canonical JSON, `hash` excluded."""
    unsealed = {k: v for k, v in body.items() if k != "hash"}
    text = json.dumps(unsealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if key is None:
        return hashlib.sha256(text).hexdigest()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def seal(entry: AuditEntry, seq: int, prev: str, key: bytes | None) -> AuditRecord:
    """Bind an entry into the chain after the record whose hash is `prev`."""
    body = {**_entry_dict(entry), "seq": seq, "prev": prev}
    return AuditRecord(seq, entry, prev, compute_hash(body, key))


def seal_all(
    entries: Sequence[AuditEntry], seq: int, prev: str, key: bytes | None
) -> list[AuditRecord]:
    """Seal entries in order after the record (`seq`, `prev`); each links to the one before."""
    records = []
    for entry in entries:
        seq += 1
        record = seal(entry, seq, prev, key)
        prev = record.hash
        records.append(record)
    return records


def entry_from_body(body: Mapping[str, Any]) -> AuditEntry:
    """Rebuild the entry of a stored record."""
    return AuditEntry(
        body["kind"],
        body["name"],
        time=body["time"],
        run_id=body.get("run_id"),
        principal=body.get("principal"),
        arguments=body.get("arguments") or {},
        outcome=body.get("outcome", "ok"),
        error_kind=body.get("error_kind"),
        latency_ms=body.get("latency_ms", 0.0),
        cost_usd=body.get("cost_usd", 0.0),
        call_id=body.get("call_id"),
        detail=body.get("detail") or {},
    )


class AuditLog(Protocol):
    """An append-only, hash-chained log."""

    async def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Seal and store entries, in order; durable per the log's fsync policy on return."""
        ...

    def bodies(self) -> AsyncIterator[Any]:
        """Every stored record as parsed JSON (raw text if unparsable), in storage order."""
        ...

    async def aclose(self) -> None:
        """Flush and release the log."""
        ...
