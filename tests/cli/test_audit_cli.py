import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from mainspring.audit import AuditEntry, JsonlAuditLog, SqliteAuditLog
from mainspring.cli.app import app

runner = CliRunner()


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        "tool_call",
        "calculator" if i % 2 else "clock",
        time="2026-11-25T08:00:00+00:00",
        run_id=f"run-{i % 3}",
        principal="ann",
        outcome="ok" if i % 5 else "error",
        error_kind=None if i % 5 else "timeout",
    )


def write(path: Path, key: bytes | None = None, count: int = 30) -> None:
    log = JsonlAuditLog(path, key=key) if path.suffix == ".jsonl" else SqliteAuditLog(path, key=key)

    async def go() -> None:
        await log.append([entry(i) for i in range(count)])
        await log.aclose()

    anyio.run(go)


def test_verify_ok_then_tampered(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path)
    ok = runner.invoke(app, ["audit", "verify", str(path)])
    assert ok.exit_code == 0 and "OK: 30 records" in ok.output
    anchor = ok.output.split("anchor: ")[1].strip()
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")
    still_ok = runner.invoke(app, ["audit", "verify", str(path)])
    assert still_ok.exit_code == 0  # a truncated tail looks clean without an anchor...
    caught = runner.invoke(app, ["audit", "verify", str(path), "--anchor", anchor])
    assert caught.exit_code == 1 and "tail deleted" in caught.output  # ...and not with one
    body = json.loads(lines[9])
    body["name"] = "rm"
    path.write_text("\n".join([*lines[:9], json.dumps(body), *lines[10:]]) + "\n")
    tampered = runner.invoke(app, ["audit", "verify", str(path)])
    assert tampered.exit_code == 1 and "TAMPERED at record #10" in tampered.output


def test_verify_with_key_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.db"
    write(path, key=b"secret")
    monkeypatch.setenv("AUDIT_KEY", "secret")
    assert (
        runner.invoke(app, ["audit", "verify", str(path), "--key-env", "AUDIT_KEY"]).exit_code == 0
    )
    # Changed by issue 11: a keyed log without its key cannot be checked (exit 2), and says so.
    unkeyed = runner.invoke(app, ["audit", "verify", str(path)])
    assert unkeyed.exit_code == 2 and "keyed" in unkeyed.output and "--key-env" in unkeyed.output
    missing = runner.invoke(app, ["audit", "verify", str(path), "--key-env", "NOPE"])
    assert missing.exit_code == 2 and "'NOPE'" in missing.output


def test_tail_and_query(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path)
    tail = runner.invoke(app, ["audit", "tail", str(path), "-n", "3"])
    assert [line.split()[0] for line in tail.output.splitlines()] == ["#28", "#29", "#30"]
    query = runner.invoke(
        app, ["audit", "query", str(path), "--tool", "clock", "--outcome", "error", "--json"]
    )
    found = [json.loads(line) for line in query.output.splitlines()]
    assert found and all(r["name"] == "clock" and r["error_kind"] == "timeout" for r in found)
    bad = runner.invoke(app, ["audit", "query", str(path), "--outcome", "maybe"])
    assert bad.exit_code == 2
    missing = runner.invoke(app, ["audit", "tail", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2 and "no audit log" in missing.output


def test_verify_json(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path)
    with path.open("ab") as handle:
        handle.write(b'{"seq": 31, "ki')
    ok = runner.invoke(app, ["audit", "verify", str(path), "--json"])
    report = json.loads(ok.output)  # nothing but the JSON: no progress bar off a terminal
    assert ok.exit_code == 0 and report["ok"] is True and report["records"] == 30
    assert report["first_bad"] is None and report["head"]["seq"] == 30 and report["cuts"] == []
    assert report["torn_tail"] == {"after_seq": 30, "bytes": 15, "where": "line 31"}
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:4], "garbage", *lines[4:30]]) + "\n")
    bad = runner.invoke(app, ["audit", "verify", str(path), "--json"])
    found = json.loads(bad.output)
    assert bad.exit_code == 1 and found["ok"] is False
    assert (
        found["first_bad"]["position"] == 5
        and "line 5 is not JSON" in found["first_bad"]["problem"]
    )


def test_verify_sqlite_whose_last_row_is_not_json(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "x.db"
    write(path, count=3)
    db = sqlite3.connect(path)
    db.execute("UPDATE audit_log SET body = 'not json' WHERE seq = 3")
    db.commit()
    db.close()
    result = runner.invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 1 and result.exception is not None  # typer.Exit, no traceback
    assert "TAMPERED at record #3: row pos 3 is not JSON ('not json')" in result.output


def test_verify_names_what_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database" * 100)
    result = runner.invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 2 and "cannot read audit log" in result.output


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from mainspring.cli.audit import _progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    with _progress_bar() as progress:
        assert progress is None
    assert pipe.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with _progress_bar() as progress:
        assert progress is not None
        progress(50_000, 100_000)
    assert "verifying" in terminal.getvalue() and "50000/100000" in terminal.getvalue()


def test_tail_and_query_read_damaged_logs_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, count=3)
    with path.open("ab") as handle:
        handle.write(b'{"not": "a record"}\n\xff garbage\n')
    tail = runner.invoke(app, ["audit", "tail", str(path)])
    assert tail.exit_code == 0 and tail.output.splitlines()[-1].startswith("#None")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    result = runner.invoke(app, ["audit", "query", str(junk)])
    assert result.exit_code == 2 and "cannot read audit log" in result.output
