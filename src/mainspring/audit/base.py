"""Audit records, the hash chain that links them, and the protocol every audit log implements.

Each record carries `seq` (1, 2, 3, ...), the hash of the record before it (`prev`), and its own
hash over its canonical JSON. Editing a record breaks its hash; deleting, inserting or reordering
records breaks `seq` or `prev`. With a secret HMAC key, nobody without the key can recompute the
chain after tampering. Removing records from the END cannot be seen from the log alone: compare
the head (`seq`, `hash`) with a copy kept elsewhere (`verify(..., anchor=...)`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any, Literal, Protocol

from mainspring.audit._encode import audit_time, format_time, safe_repr, storable, text

RecordKind = Literal["tool_call", "model_call", "log_repair"]
"""`log_repair`: a writer cut a torn or unreadable tail off the log on reopening it (`detail`
says what, how many bytes, and the side file that keeps them)."""
GENESIS = "0" * 64
"""The `prev` of the first record."""
HashAlg = Literal["sha256", "hmac-sha256"]
"""Stored in every record (`alg`) so a verifier knows a keyed log needs its key."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, before it is sealed into the chain."""

    kind: RecordKind
    name: str
    """The tool or model called."""
    _: KW_ONLY
    time: str
    """ISO 8601; stored as UTC `2026-11-25T08:00:00.000000Z` whatever offset it is given in."""
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
    alg: HashAlg = "sha256"
    line: str = field(default="", repr=False, compare=False)
    """The stored JSON line (without its newline), exactly as sealed."""

    def body(self) -> dict[str, Any]:
        """The JSON object stored for this record (hash included)."""
        if self.line:
            stored: dict[str, Any] = json.loads(self.line)
            return stored
        unsealed = {**stored_entry(self.entry), "alg": self.alg, "seq": self.seq, "prev": self.prev}
        return {**unsealed, "hash": self.hash}

    def to_json(self) -> str:
        """One line of the JSON-lines log."""
        return self.line or _line(self.body())


_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, sort_keys=True, separators=(",", ":")
)
# The same canonical form for checking stored records, which may hold anything a hand put there.
_VERIFYING = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, sort_keys=True, separators=(",", ":")
)
# JSON allows these raw inside strings, but `str.splitlines()` (and many line readers) split on
# them; escaping them keeps one record per line without changing the parsed value or its hash.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def _line(body: Mapping[str, Any]) -> str:
    return _escape_breaks(_CANONICAL.encode(body))


def _escape_breaks(line: str) -> str:
    if not line.isascii():
        for raw, escaped in _LINE_BREAKS.items():
            line = line.replace(raw, escaped)
    return line


_ENTRY_FIELDS = tuple(f.name for f in fields(AuditEntry))


def stored_entry(entry: AuditEntry) -> dict[str, Any]:
    """The entry's fields in their stored form: strict JSON, time in the one audit format."""
    data = {name: getattr(entry, name) for name in _ENTRY_FIELDS}
    data["time"], given = audit_time(entry.time)
    if given is not None:  # not a time: sealing time stored instead, what was given kept
        detail = entry.detail if isinstance(entry.detail, Mapping) else {"detail": entry.detail}
        data["detail"] = {**detail, "time_given": given}
    stored: dict[str, Any] = storable(data)
    return stored


def compute_hash(body: Mapping[str, Any], key: bytes | None) -> str:
    """SHA-256 (or HMAC-SHA-256 with `key`) of the body's canonical JSON, `hash` excluded."""
    unsealed = {k: v for k, v in body.items() if k != "hash"}
    return _digest(_verifying_bytes(unsealed), key)


def rehash(body: dict[str, Any], key: bytes | None) -> str:
    """`compute_hash` without copying the body (`hash` is taken out and put back)."""
    stored = body.pop("hash", _MISSING)
    try:
        return _digest(_verifying_bytes(body), key)
    finally:
        if stored is not _MISSING:
            body["hash"] = stored


_MISSING = object()


def _verifying_bytes(body: Mapping[str, Any]) -> bytes:
    # A writer never stores a lone surrogate; one put there by hand must not stop the check
    # (its record then fails to match its hash).
    return _VERIFYING.encode(body).encode("utf-8", "surrogatepass")


def _digest(text: bytes, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(text).hexdigest()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def seal(entry: AuditEntry, seq: int, prev: str, key: bytes | None) -> AuditRecord:
    """Bind an entry into the chain after the record whose hash is `prev`. Never raises.

    The hash is taken over the canonical JSON of exactly the stored body (escaped and replaced
    values included), which is what `verify` recomputes from the stored line.
    """
    alg: HashAlg = "sha256" if key is None else "hmac-sha256"
    try:
        stored = stored_entry(entry)
    except Exception as exc:  # a bug in the conversion must still leave a record, not a gap
        stored = {
            "kind": text(str(getattr(entry, "kind", "tool_call"))),
            "name": text(str(getattr(entry, "name", "?"))),
            "time": format_time(dt.datetime.now(dt.UTC)),
            "detail": {"unstorable": safe_repr(entry), "error": safe_repr(exc)},
        }
    body = {**stored, "alg": alg, "seq": seq, "prev": prev}
    body.pop("hash", None)
    # Encode the members that sort before and after "hash" apart, so the unsealed text (hashed)
    # and the stored line are one encoding: exactly the canonical JSON `verify` recomputes.
    before = _CANONICAL.encode({k: v for k, v in body.items() if k < "hash"})[1:-1]
    after = _CANONICAL.encode({k: v for k, v in body.items() if k > "hash"})[1:-1]
    unsealed = "{" + ",".join(part for part in (before, after) if part) + "}"
    digest = _digest(unsealed.encode(), key)
    sealed = f'"hash":"{digest}"'
    line = "{" + ",".join(part for part in (before, sealed, after) if part) + "}"
    return AuditRecord(seq, entry, prev, digest, alg, _escape_breaks(line))


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


def head_of(body: Any) -> tuple[int, str] | None:
    """(seq, hash) of a stored body that is a chain record, else None."""
    if not isinstance(body, dict):
        return None
    seq, digest = body.get("seq"), body.get("hash")
    if type(seq) is not int or not isinstance(digest, str) or len(digest) != 64:
        return None
    return seq, digest


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored record that is not JSON, kept as text with where it is stored."""

    text: str
    where: str
    """"line 12" of a file, "row pos 17" of a table."""
    torn: bool = False
    """The final line of a file without its newline: a write torn by a crash."""
    size: int | None = None
    """Stored bytes, when `text` (decoded with escapes) is not the same length."""


def entry_from_body(body: Mapping[str, Any]) -> AuditEntry:
    """Rebuild the entry of a stored record (fields it lacks take their defaults)."""
    names = {f.name for f in fields(AuditEntry)} - {"kind", "name"}
    known = {k: v for k, v in body.items() if k in names and v is not None}
    known.setdefault("time", "")
    return AuditEntry(body["kind"], body["name"], **known)


class AuditLog(Protocol):
    """An append-only, hash-chained log."""

    async def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Seal and store entries, in order; durable per the log's fsync policy on return."""
        ...

    def bodies(self) -> AsyncIterator[Any]:
        """Every stored record as parsed JSON (an `Unreadable` if it is not), in storage order."""
        ...

    async def aclose(self) -> None:
        """Flush and release the log."""
        ...
