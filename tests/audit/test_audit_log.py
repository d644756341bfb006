import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mainspring.audit import (
    AuditEntry,
    AuditSink,
    JsonlAuditLog,
    SqliteAuditLog,
    verify_bodies,
    verify_file,
    verify_log,
)
from mainspring.audit.base import compute_hash
from mainspring.errors import AuditLogError
from mainspring.messages import ToolCall
from mainspring.tools import CallContext, Principal, ToolExecutor, ToolRegistry, tool

N = 10_000


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        "tool_call",
        "calculator",
        time="2026-11-25T08:00:00+00:00",
        run_id=f"run-{i // 100}",
        principal="ann",
        arguments={"expression": f"{i} * 2"},
        outcome="ok" if i % 7 else "error",
        error_kind=None if i % 7 else "invalid_arguments",
        latency_ms=0.5,
    )


async def write_log(path: Path, key: bytes | None = None) -> None:
    log = JsonlAuditLog(path, key=key)
    for start in range(0, N, 1000):
        await log.append([entry(i) for i in range(start, start + 1000)])
    await log.aclose()


@pytest.fixture(scope="module")
def clean_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    import anyio

    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    anyio.run(write_log, path)
    return path.read_text().splitlines()


def check(lines: list[str], key: bytes | None = None) -> tuple[bool, int | None, str]:
    report = verify_bodies((json.loads(line) for line in lines), key=key)
    return report.ok, report.position, report.problem or ""


def edit(lines: list[str]) -> list[str]:
    body = json.loads(lines[4321])
    body["arguments"]["expression"] = "rm -rf /"
    return [*lines[:4321], json.dumps(body), *lines[4322:]]


def edit_and_rehash(lines: list[str]) -> list[str]:
    # A forger without a key recomputes this record's hash; the next record no longer links.
    body = json.loads(lines[4321])
    body["principal"] = "mallory"
    body["hash"] = compute_hash(body, None)
    return [*lines[:4321], json.dumps(body), *lines[4322:]]


def delete(lines: list[str]) -> list[str]:
    return lines[:4321] + lines[4322:]


def reorder(lines: list[str]) -> list[str]:
    return [*lines[:4321], lines[4322], lines[4321], *lines[4323:]]


def insert(lines: list[str]) -> list[str]:
    return [*lines[:4322], lines[100], *lines[4322:]]


@pytest.mark.parametrize(
    ("tamper", "fragment"),
    [
        (edit, "do not match its hash"),
        (edit_and_rehash, "does not link"),
        (delete, "were deleted"),
        (reorder, "reordered"),
        (insert, "inserted or reordered"),
    ],
)
def test_every_kind_of_tampering_is_found(
    clean_lines: list[str], tamper: Callable[[list[str]], list[str]], fragment: str
) -> None:
    assert check(clean_lines)[0]
    ok, position, problem = check(tamper(clean_lines))
    assert not ok
    assert position in (4322, 4323)
    assert fragment in problem


def test_clean_log_verifies_with_its_head(clean_lines: list[str]) -> None:
    report = verify_bodies(json.loads(line) for line in clean_lines)
    assert report.ok and report.records == N and report.head_seq == N
    assert str(report).startswith(f"OK: {N} records")


def test_tail_deletion_needs_an_anchor(clean_lines: list[str]) -> None:
    head = json.loads(clean_lines[-1])
    anchor = (head["seq"], head["hash"])
    truncated = (json.loads(line) for line in clean_lines[:-5])
    report = verify_bodies(truncated, anchor=anchor)
    assert not report.ok and "tail deleted" in (report.problem or "")


async def test_hmac_chain_cannot_be_recomputed_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "keyed.jsonl"
    log = JsonlAuditLog(path, key=b"k" * 32)
    await log.append([entry(i) for i in range(50)])
    await log.aclose()
    lines = path.read_text().splitlines()
    assert check(lines, key=b"k" * 32)[0]
    assert not check(lines)[0]  # the plain-hash verifier cannot vouch for it

    def forge(alg: str) -> list[str]:
        # Forge the whole chain with plain SHA-256 after an edit.
        forged, prev = [], "0" * 64
        for line in lines:
            body = json.loads(line)
            body["principal"] = "mallory"
            body["alg"] = alg
            body["prev"] = prev
            body["hash"] = prev = compute_hash(body, None)
            forged.append(json.dumps(body))
        return forged

    # Changed by issue 11: a chain still marked keyed is refused without the key, not accepted.
    report = verify_bodies(json.loads(line) for line in forge("hmac-sha256"))
    assert not report.ok and report.reason == "key_required" and report.position == 1
    assert "keyed" in (report.problem or "") and "--key-env" in (report.problem or "")
    # A forger who also relabels the records as plain SHA-256 is caught under the key.
    downgraded = forge("sha256")
    assert check(downgraded)[0]  # alone, indistinguishable from a plain log (see docs/audit.md)
    report = verify_bodies((json.loads(line) for line in downgraded), key=b"k" * 32)
    assert not report.ok and report.reason == "downgraded" and report.position == 1


async def test_reopening_continues_the_chain_and_cuts_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    await log.append([entry(1), entry(2)])
    await log.aclose()
    with path.open("a") as handle:
        handle.write('{"seq": 3, "kind": "tool_ca')  # a crash mid-write
    log = JsonlAuditLog(path, fsync="always")
    records = await log.append([entry(3)])
    # Changed by issue 11: the cut is sealed into the chain (seq 3) before the new record.
    assert records[0].seq == 4
    assert await log.head() == (4, records[0].hash)
    await log.aclose()
    report = await verify_log(JsonlAuditLog(path).bodies())
    assert report.ok and report.records == 4
    assert report.cuts[0]["after_seq"] == 2 and report.cuts[0]["size"] == 27


async def test_unreadable_head_refuses_to_append(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("not json\n")
    with pytest.raises(AuditLogError, match="audit verify"):
        await JsonlAuditLog(path).append([entry(1)])


async def test_sqlite_log_detects_sql_tampering(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log = SqliteAuditLog(path)
    await log.append([entry(i) for i in range(200)])
    assert (await verify_log(log.bodies())).ok
    await log.aclose()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM audit_log WHERE seq = 120")
    db.commit()
    db.close()
    log = SqliteAuditLog(path)
    report = await verify_log(log.bodies())
    assert not report.ok and report.position == 120 and "deleted" in (report.problem or "")
    records = await log.append([entry(999)])
    assert records[0].seq == 201  # appends continue from the stored head
    await log.aclose()


async def test_sink_records_every_executor_call(tmp_path: Path) -> None:
    @tool(secrets={"token"})
    def fetch(url: str, token: str) -> str:
        """Fetch a URL."""
        return "body"

    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    executor = ToolExecutor(ToolRegistry([fetch]), sinks=[AuditSink(log)])
    ctx = CallContext(principal=Principal("ann"), run_id="r1")
    await executor.execute(ToolCall("1", "fetch", {"url": "u", "token": "s3cret"}), ctx)
    await executor.execute(ToolCall("2", "fetch", {"url": 3}), ctx)
    await executor.aclose()
    bodies = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [b["outcome"] for b in bodies] == ["ok", "error"]
    assert bodies[0]["arguments"] == {"url": "u", "token": "***"}
    assert bodies[1]["error_kind"] == "invalid_arguments"
    assert bodies[0]["run_id"] == "r1" and bodies[0]["principal"] == "ann"
    assert verify_bodies(bodies).ok


async def test_postgres_log_shares_one_chain_between_writers() -> None:
    import os
    import uuid

    import anyio
    import psycopg

    from mainspring.audit.postgres import PostgresAuditLog
    from tests.conftest import service_unavailable

    url = os.environ.get("MAINSPRING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        probe = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await probe.close()
    except psycopg.Error as exc:
        service_unavailable("PostgreSQL at " + url, exc)
    schema = f"test_audit_{uuid.uuid4().hex[:12]}"
    writers = [PostgresAuditLog(url, schema=schema) for _ in range(3)]
    try:

        async def write(log: PostgresAuditLog, base: int) -> None:
            for i in range(20):
                await log.append([entry(base + i)])

        async with anyio.create_task_group() as group:
            for n, log in enumerate(writers):
                group.start_soon(write, log, n * 100)
        report = await verify_log(writers[0].bodies())
        assert report.ok and report.records == 60
        assert await writers[1].head() == (60, report.head_hash)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(
                f"UPDATE {schema}.audit_log SET body = replace(body, 'ann', 'eve') WHERE seq = 30"
            )
        tampered = await verify_log(writers[0].bodies())
        assert not tampered.ok and tampered.position == 30
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(f"UPDATE {schema}.audit_log SET body = 'not json' WHERE seq = 60")
        by_url = await verify_file(url, schema=schema)
        assert not by_url.ok and by_url.position == 30
        await writers[2].append([entry(999)])  # an unreadable row never stops the writers
        assert (await writers[0].head())[0] == 61
    finally:
        for log in writers:
            await log.aclose()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
