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
    assert runner.invoke(app, ["audit", "verify", str(path)]).exit_code == 1
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
