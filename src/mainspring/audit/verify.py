"""Checking a chain: the first record that was edited, deleted, reordered or inserted."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import Any

from mainspring.audit.base import GENESIS, compute_hash


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

    def __str__(self) -> str:
        if self.ok:
            return f"OK: {self.records} records, head seq {self.head_seq} hash {self.head_hash}"
        return f"TAMPERED at record #{self.position}: {self.problem}"


class _Checker:
    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self.count = 0
        self.prev = GENESIS
        self.seq = 0

    def check(self, body: Any) -> str | None:
        """A description of what is wrong with the next record, or None."""
        self.count += 1
        if not isinstance(body, dict):
            return "not a JSON object (corrupted or torn write)"
        seq, prev, stored = body.get("seq"), body.get("prev"), body.get("hash")
        if not isinstance(seq, int) or not isinstance(stored, str):
            return "missing seq or hash fields"
        if compute_hash(body, self.key) != stored:
            return f"seq {seq}: contents do not match its hash (record edited, or wrong key)"
        if seq != self.seq + 1:
            what = "deleted or reordered" if seq > self.seq + 1 else "inserted or reordered"
            return f"seq {seq} follows seq {self.seq}: records were {what}"
        if prev != self.prev:
            return f"seq {seq}: does not link to the record before it (inserted or replaced)"
        self.seq, self.prev = seq, stored
        return None


def _finish(checker: _Checker, problem: str | None, anchor: tuple[int, str] | None) -> VerifyReport:
    if problem is None and anchor is not None:
        seq, digest = anchor
        if checker.seq < seq:
            problem = f"log ends at seq {checker.seq} but the anchor is seq {seq}: tail deleted"
        elif checker.seq == seq and checker.prev != digest:
            problem = f"head seq {seq} does not match the anchored hash: head replaced"
    if problem is None:
        return VerifyReport(True, checker.count, checker.seq, checker.prev)
    return VerifyReport(
        False, checker.count, checker.seq, checker.prev, position=checker.count, problem=problem
    )


def verify_bodies(
    bodies: Iterable[Any], *, key: bytes | None = None, anchor: tuple[int, str] | None = None
) -> VerifyReport:
    """Verify records given as parsed JSON objects, in storage order."""
    checker = _Checker(key)
    for body in bodies:
        problem = checker.check(body)
        if problem is not None:
            return _finish(checker, problem, None)
    return _finish(checker, None, anchor)


async def verify_log(
    bodies: AsyncIterable[Any], *, key: bytes | None = None, anchor: tuple[int, str] | None = None
) -> VerifyReport:
    """Verify a log's records as they stream from its store."""
    checker = _Checker(key)
    async for body in bodies:
        problem = checker.check(body)
        if problem is not None:
            return _finish(checker, problem, None)
    return _finish(checker, None, anchor)
