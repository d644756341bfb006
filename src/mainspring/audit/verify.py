"""Checking a chain: the first record that was edited, deleted, reordered or inserted.

Also what a writer cut off the end on reopening (`log_repair` records), a torn final line not
yet cut, whether the log is keyed, and whether it still holds an anchored `(seq, hash)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal

from mainspring.audit.base import GENESIS, Unreadable, rehash

Problem = Literal["tampered", "unreadable", "key_required", "downgraded", "anchor"]
"""Why a log failed: `key_required` means verify it with its key, not that it was tampered."""
Progress = Callable[[int, int | None], None]
"""Called as records are checked with (records so far, expected total if known)."""
_PROGRESS_EVERY = 4096
_KEY_HINT = "`mainspring audit verify PATH --key-env VAR`, or `key=` in Python"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The verdict on one log."""

    ok: bool
    records: int
    """Records checked (up to and including the first bad one)."""
    head_seq: int
    head_hash: str
    position: int | None = None
    """1-based position in storage of the first bad record."""
    problem: str | None = None
    _: KW_ONLY
    reason: Problem | None = None
    keyed: bool = False
    """The records are sealed with HMAC-SHA-256 (and were checked with the key)."""
    cuts: tuple[dict[str, Any], ...] = ()
    """What writers cut off the end on reopening (from the `log_repair` records), oldest first."""
    torn_tail: dict[str, Any] | None = None
    """An unterminated final line not yet cut (the next writer moves it to a side file)."""
    anchor: tuple[int, str] | None = None
    """The anchor the log was checked against, if any."""

    def __str__(self) -> str:
        if self.ok:
            verdict = f"OK: {self.records} records, head seq {self.head_seq} hash {self.head_hash}"
        elif self.reason == "key_required":
            verdict = f"KEY REQUIRED at record #{self.position}: {self.problem}"
        else:
            verdict = f"TAMPERED at record #{self.position}: {self.problem}"
        lines = [verdict, *map(_describe_cut, self.cuts)]
        if (torn := self.torn_tail) is not None:
            lines.append(
                f"torn tail: {torn['bytes']} bytes after seq {torn['after_seq']} at "
                f"{torn['where']} (a write interrupted by a crash; the next writer moves it to "
                "a side file)"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON (`mainspring audit verify --json`)."""
        first_bad, anchor = None, None
        if not self.ok:
            first_bad = {"position": self.position, "problem": self.problem, "reason": self.reason}
        if self.anchor is not None:
            anchor = {"seq": self.anchor[0], "hash": self.anchor[1]}
        return {
            "ok": self.ok,
            "records": self.records,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "anchor": anchor,
            "keyed": self.keyed,
            "first_bad": first_bad,
            "cuts": list(self.cuts),
            "torn_tail": self.torn_tail,
        }


def _describe_cut(cut: dict[str, Any]) -> str:
    kept = "MISSING or changed:" if cut.get("kept") is False else "kept in"
    if cut.get("seq") is None:
        return f"side file {cut.get('file')} ({cut.get('size')} bytes): {cut.get('reason')}"
    return (
        f"cut (seq {cut['seq']}): {cut.get('size')} bytes after seq {cut.get('after_seq')}, "
        f"{cut.get('reason')}; {kept} {cut.get('file')}"
    )


class _Checker:
    def __init__(self, key: bytes | None, anchor: tuple[int, str] | None) -> None:
        self.key = key
        self.anchor = anchor
        self.count = 0
        self.prev = GENESIS
        self.seq = 0
        self.reason: Problem = "tampered"
        self.keyed = False
        self.cuts: list[dict[str, Any]] = []
        self.torn: dict[str, Any] | None = None

    def check(self, body: Any) -> str | None:
        """A description of what is wrong with the next record, or None."""
        self.count += 1
        if isinstance(body, Unreadable):
            return self._unreadable(body)
        if not isinstance(body, dict):
            self.reason = "unreadable"
            return "not a JSON object (corrupted or torn write)"
        seq, prev, stored = body.get("seq"), body.get("prev"), body.get("hash")
        if type(seq) is not int or not isinstance(stored, str):
            return "missing seq or hash fields"
        problem = self._algorithm(body.get("alg"), seq) or self._hash(body, seq, stored)
        if problem is not None:
            return problem
        if seq != self.seq + 1:
            what = "deleted or reordered" if seq > self.seq + 1 else "inserted or reordered"
            return f"seq {seq} follows seq {self.seq}: records were {what}"
        if prev != self.prev:
            return f"seq {seq}: does not link to the record before it (inserted or replaced)"
        if self.anchor is not None and seq == self.anchor[0] and stored != self.anchor[1]:
            self.reason = "anchor"
            return (
                f"seq {seq} does not match the anchored hash: the chain was rewritten at or "
                f"before seq {seq}"
            )
        if body.get("kind") == "log_repair" and isinstance(body.get("detail"), dict):
            self.cuts.append({"seq": seq, **body["detail"]})
        self.seq, self.prev = seq, stored
        return None

    def _unreadable(self, body: Unreadable) -> str | None:
        if body.torn:
            self.count -= 1  # not a record: an interrupted write, reported, not a failure
            size = len(body.text.encode()) if body.size is None else body.size
            self.torn = {"after_seq": self.seq, "bytes": size, "where": body.where}
            return None
        self.reason = "unreadable"
        preview = body.text if len(body.text) <= 60 else body.text[:57] + "..."
        return f"{body.where} is not JSON ({preview!r}): corrupted, or written by hand"

    def _algorithm(self, alg: Any, seq: int) -> str | None:
        if alg == "hmac-sha256":
            self.keyed = True
            if self.key is None:
                self.reason = "key_required"
                return (
                    f"the log is keyed (HMAC-SHA-256 from seq {seq}) and no key was given: "
                    f"verify it with its key ({_KEY_HINT})"
                )
        elif alg == "sha256":
            if self.key is not None:
                self.reason = "downgraded"
                return (
                    f"seq {seq} is sealed with plain SHA-256 but the log is verified with a key: "
                    "its records were re-hashed without the key (a downgrade), or a writer was "
                    "not given the key"
                )
        elif alg is not None:
            return f"seq {seq}: unknown hash algorithm {alg!r}"
        return None

    def _hash(self, body: dict[str, Any], seq: int, stored: str) -> str | None:
        try:
            if rehash(body, self.key) == stored:
                return None
        except (RecursionError, ValueError, TypeError):  # hand-made structure JSON cannot hold
            return f"seq {seq}: contents cannot be re-encoded to check its hash (record edited)"
        hint = "record edited, or wrong key"
        if body.get("alg") is None and self.key is None:
            hint = f"record edited, or an older keyed log: verify it with its key ({_KEY_HINT})"
        return f"seq {seq}: contents do not match its hash ({hint})"

    def finish(self, problem: str | None) -> VerifyReport:
        if problem is None and self.anchor is not None and self.seq < self.anchor[0]:
            self.reason = "anchor"
            problem = (
                f"log ends at seq {self.seq} but the anchor is seq {self.anchor[0]}: tail deleted"
            )
        common: dict[str, Any] = {
            "keyed": self.keyed,
            "cuts": tuple(self.cuts),
            "torn_tail": self.torn,
            "anchor": self.anchor,
        }
        if problem is None:
            return VerifyReport(True, self.count, self.seq, self.prev, **common)
        return VerifyReport(
            False,
            self.count,
            self.seq,
            self.prev,
            position=self.count,
            problem=problem,
            reason=self.reason,
            **common,
        )


def verify_bodies(
    bodies: Iterable[Any],
    *,
    key: bytes | None = None,
    anchor: tuple[int, str] | None = None,
    progress: Progress | None = None,
    total: int | None = None,
) -> VerifyReport:
    """Verify records given as parsed JSON objects, in storage order."""
    checker = _Checker(key, anchor)
    for body in bodies:
        problem = checker.check(body)
        if problem is not None:
            return checker.finish(problem)
        if progress is not None and checker.count % _PROGRESS_EVERY == 0:
            progress(checker.count, total)
    if progress is not None:
        progress(checker.count, total)
    return checker.finish(None)


async def verify_log(
    bodies: AsyncIterable[Any],
    *,
    key: bytes | None = None,
    anchor: tuple[int, str] | None = None,
    progress: Progress | None = None,
    total: int | None = None,
) -> VerifyReport:
    """Verify a log's records as they stream from its store.

    An anchor `(seq, hash)` pins that record wherever the log now ends: a log that is shorter,
    or whose record at `seq` has another hash (the chain rewritten), fails.
    """
    checker = _Checker(key, anchor)
    async for body in bodies:
        problem = checker.check(body)
        if problem is not None:
            return checker.finish(problem)
        if progress is not None and checker.count % _PROGRESS_EVERY == 0:
            progress(checker.count, total)
    if progress is not None:
        progress(checker.count, total)
    return checker.finish(None)
