"""Anchors pin a record wherever the log ends; keyed logs need their key; SQLite heads."""

import json
import sqlite3
from pathlib import Path

import anyio
import pytest

from mainspring.audit import (
    AuditEntry,
    JsonlAuditLog,
    SqliteAuditLog,
    verify_bodies,
    verify_file,
    verify_file_sync,
)
from mainspring.audit.base import compute_hash
from mainspring.errors import AuditLogError, ConfigurationError


def entry(i: int) -> AuditEntry:
    return AuditEntry("tool_call", "t", time="2026-11-25T08:00:00Z", arguments={"i": i})


async def write(path: Path, count: int, key: bytes | None = None) -> tuple[int, str]:
    log = JsonlAuditLog(path, key=key)
    await log.append([entry(i) for i in range(count)])
    head = await log.head()
    await log.aclose()
    return head


def rewrite(lines: list[str], start: int, extra: int) -> list[str]:
    """A forger (no key) edits from `start` on, recomputes every hash, and adds `extra` records."""
    bodies = [json.loads(line) for line in lines]
    bodies += [{**bodies[-1], "seq": bodies[-1]["seq"] + n + 1} for n in range(extra)]
    prev = bodies[start - 1]["prev"]
    for body in bodies[start - 1 :]:
        body["principal"] = "mallory"
        body["prev"] = prev
        body["hash"] = prev = compute_hash(body, None)
    return [json.dumps(b) for b in bodies]


async def test_an_anchor_pins_its_record_wherever_the_log_now_ends(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    anchor = await write(path, 10)
    lines = path.read_text().splitlines()
    assert verify_bodies((json.loads(x) for x in lines), anchor=anchor).ok
    for extra in (0, 1, 5):
        forged = rewrite(lines, 4, extra)
        assert verify_bodies(json.loads(x) for x in forged).ok  # plain SHA: consistent alone
        report = verify_bodies((json.loads(x) for x in forged), anchor=anchor)
        # Before: with extra > 0 the anchor was never looked at and this verified OK.
        assert not report.ok and report.reason == "anchor" and report.position == 10, extra
        assert "rewritten" in (report.problem or "")
    # An honest log that grew past the anchor still verifies against it.
    log = JsonlAuditLog(path)
    await log.append([entry(99)])
    await log.aclose()
    assert (await verify_file(path, anchor=anchor)).ok


async def test_a_keyed_log_without_its_key_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    await write(path, 3, key=b"secret")
    report = await verify_file(path)
    assert not report.ok and report.reason == "key_required" and report.position == 1
    assert "keyed" in str(report) and "--key-env" in str(report)
    keyed = await verify_file(path, key=b"secret")
    assert keyed.ok and keyed.keyed


async def test_plain_records_in_a_keyed_log_fail_under_the_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    await write(path, 3, key=b"secret")
    await write(path, 2)  # a writer that was not given the key appends plain-SHA records
    report = await verify_file(path, key=b"secret")
    assert not report.ok and report.reason == "downgraded" and report.position == 4


async def test_sqlite_log_has_a_head_and_the_docs_anchor_works(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log = SqliteAuditLog(path)
    assert await log.head() == (0, "0" * 64)
    records = await log.append([entry(i) for i in range(5)])
    assert await log.head() == (5, records[-1].hash)
    await log.aclose()
    reopened = SqliteAuditLog(path)
    assert await reopened.head() == (5, records[-1].hash)
    await reopened.aclose()
    assert (await verify_file(path, anchor=(5, records[-1].hash))).ok


async def test_sqlite_last_row_not_json_is_named_and_appends_go_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log = SqliteAuditLog(path)
    await log.append([entry(i) for i in range(3)])
    await log.aclose()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO audit_log (seq, run_id, name, body) VALUES (4, NULL, 'x', 'oops')")
    db.commit()
    db.close()
    report = await verify_file(path)
    assert (
        not report.ok and report.position == 4 and "row pos 4 is not JSON" in (report.problem or "")
    )
    log = SqliteAuditLog(path)  # before: AuditLogError on open, even just to read
    assert (await log.append([entry(3)]))[0].seq == 4
    await log.aclose()


async def test_verify_file_reads_only_and_explains_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(AuditLogError, match="no audit log"):
        await verify_file(tmp_path / "missing.jsonl")
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(AuditLogError, match="not an audit log"):
        await verify_file(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(AuditLogError, match="cannot read"):
        await verify_file(junk)


def test_verify_file_sync_from_a_script_with_progress(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    anyio.run(write, path, 10_000)
    seen: list[tuple[int, int | None]] = []
    report = verify_file_sync(path, progress=lambda done, total: seen.append((done, total)))
    assert report.ok and report.records == 10_000
    assert seen[0] == (4096, 10_000) and seen[-1] == (10_000, 10_000)


async def test_verify_file_sync_refuses_inside_an_event_loop(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="await verify_file"):
        verify_file_sync(tmp_path / "audit.jsonl")


def test_hand_edited_records_that_json_barely_holds_are_findings_not_crashes() -> None:
    surrogate = json.loads(
        '{"seq": 1, "prev": "' + "0" * 64 + '", "hash": "' + "a" * 64 + '", "x": "\\udc80"}'
    )
    report = verify_bodies([surrogate])
    assert not report.ok and "do not match its hash" in (report.problem or "")
    deep = json.loads('{"seq": 1, "hash": "' + "a" * 64 + '", "x": ' + "[" * 900 + "]" * 900 + "}")
    report = verify_bodies([deep])
    assert not report.ok and report.position == 1
