"""Reopening a JSON-lines log after huge records, torn writes and hand-appended garbage."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mainspring.audit import (
    AuditEntry,
    JsonlAuditLog,
    VerifyReport,
    verify_file,
    verify_file_sync,
    verify_log,
)

SRC = Path(__file__).parent.parent.parent / "src"

# An audited tool call in a fresh process, as a later run of a program would make it.
CALL = """
import sys, anyio
from pathlib import Path
from mainspring import CallContext, Principal, ToolCall, ToolExecutor, ToolRegistry, tool
from mainspring.audit import AuditSink, JsonlAuditLog

@tool
def measure(text: str) -> int:
    \"\"\"Count characters.\"\"\"
    return len(text)

async def main() -> None:
    executor = ToolExecutor(ToolRegistry([measure]), sinks=[AuditSink(JsonlAuditLog(sys.argv[1]))])
    call = ToolCall(sys.argv[3], "measure", {"text": "x" * int(sys.argv[2])})
    result = await executor.execute(call, CallContext(principal=Principal("ann"), run_id="r"))
    await executor.aclose()
    assert result.ok, result

anyio.run(main)
"""


def audited_call(path: Path, size: int, call_id: str = "1") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", CALL, str(path), str(size), call_id],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def bodies(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def side_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("audit.jsonl.torn-*"))


def entry(i: int, size: int = 10) -> AuditEntry:
    return AuditEntry(
        "tool_call", "measure", time="2026-11-25T08:00:00Z", arguments={"text": "y" * size, "i": i}
    )


@pytest.mark.parametrize("size", [100_000, 5_000_000], ids=["100KB", "5MB"])
def test_later_processes_keep_appending_after_a_huge_record(tmp_path: Path, size: int) -> None:
    path = tmp_path / "audit.jsonl"
    audited_call(path, size, "1")
    audited_call(path, 10, "2")  # before: AuditLogError, the head was read from 64 KiB only
    audited_call(path, size, "3")
    audited_call(path, 10, "4")
    stored = bodies(path)
    assert [b["seq"] for b in stored] == [1, 2, 3, 4]
    assert [b["call_id"] for b in stored] == ["1", "2", "3", "4"]
    report = verify_file_report(path)
    assert report.ok and report.records == 4 and not report.cuts


def verify_file_report(path: Path) -> VerifyReport:
    return verify_file_sync(path)


async def test_huge_record_reopens_in_a_fresh_object(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    first = await log.append([entry(1, 5_000_000)])
    await log.aclose()
    reopened = JsonlAuditLog(path)
    assert await reopened.head() == (1, first[0].hash)
    assert (await reopened.append([entry(2)]))[0].prev == first[0].hash
    await reopened.aclose()


def test_a_torn_huge_record_is_moved_aside_and_the_chain_continues(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audited_call(path, 10, "1")
    audited_call(path, 5_000_000, "2")
    data = path.read_bytes()
    second_line = data.index(b"\n") + 1
    torn = data[: second_line + 3_000_000]  # a crash half way through writing record 2
    path.write_bytes(torn)
    later = audited_call(path, 10, "3")
    assert "cut 3000000 bytes after seq 1" in later.stderr  # the warning is printed
    stored = bodies(path)
    # Before: the file was cut inside the torn line and the chain restarted at seq 1.
    assert [b["seq"] for b in stored] == [1, 2, 3]
    assert stored[1]["kind"] == "log_repair" and stored[2]["call_id"] == "3"
    sides = side_files(tmp_path)
    assert len(sides) == 1 and sides[0].read_bytes() == torn[second_line:]
    report = verify_file_report(path)
    assert report.ok and report.records == 3
    (cut,) = report.cuts
    assert cut["after_seq"] == 1 and cut["size"] == 3_000_000 and cut["kept"] is True
    assert cut["file"] == sides[0].name and "torn" in cut["reason"]
    assert "cut (seq 2): 3000000 bytes after seq 1" in str(report)


async def test_garbage_appended_by_hand_is_kept_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    await log.append([entry(1), entry(2)])
    await log.aclose()
    garbage = b'this is not a record\n{"not": "a record"}\n\xff\xfe binary\n'
    with path.open("ab") as handle:
        handle.write(garbage)
    before = await verify_file(path)
    assert not before.ok and before.position == 3 and "line 3 is not JSON" in (before.problem or "")
    with caplog.at_level(logging.WARNING, logger="mainspring"):
        log = JsonlAuditLog(path)
        record = (await log.append([entry(3)]))[0]
        await log.aclose()
    assert "3 line(s) after seq 2 that are not records" in caplog.text
    assert record.seq == 4  # seq 3 is the log_repair record: the chain goes on, nothing deleted
    (side,) = side_files(tmp_path)
    assert side.read_bytes() == garbage
    report = await verify_file(path)
    assert report.ok and report.records == 4
    assert report.cuts[0]["lines"] == 3 and report.cuts[0]["torn"] is False


async def test_a_deleted_side_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    log = JsonlAuditLog(path)
    await log.append([entry(1)])
    await log.aclose()
    with path.open("ab") as handle:
        handle.write(b'{"seq": 2, "ki')
    await JsonlAuditLog(path).aclose()
    log = JsonlAuditLog(path)
    await log.append([entry(2)])
    await log.aclose()
    for side in side_files(tmp_path):
        side.unlink()
    report = await verify_file(path)
    assert report.cuts[0]["kept"] is False and "MISSING" in str(report)


async def test_an_unterminated_but_complete_record_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    await log.append([entry(1), entry(2)])
    await log.aclose()
    path.write_bytes(path.read_bytes()[:-1])  # the crash came just before the newline
    log = JsonlAuditLog(path)
    assert (await log.append([entry(3)]))[0].seq == 3
    await log.aclose()
    assert not side_files(tmp_path)
    assert (await verify_file(path)).ok


async def test_verify_reports_a_torn_tail_before_any_writer_cuts_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    await log.append([entry(1), entry(2)])
    await log.aclose()
    with path.open("ab") as handle:
        handle.write(b'{"seq": 3, "kind": "tool_ca')
    report = await verify_log(JsonlAuditLog(path).bodies())
    assert report.ok and report.records == 2
    assert report.torn_tail == {"after_seq": 2, "bytes": 27, "where": "line 3"}
    assert "torn tail: 27 bytes after seq 2" in str(report)
    assert path.read_bytes().endswith(b"tool_ca")  # verifying reads only


async def test_a_torn_first_record_is_cut_too(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"seq": 1, "ki')
    log = JsonlAuditLog(path)
    assert (await log.append([entry(1)]))[0].seq == 2
    await log.aclose()
    assert (await verify_file(path)).ok


# A disk that fills up half way through a write: RLIMIT_FSIZE makes the kernel refuse bytes
# past the limit (EFBIG), as a full disk would (ENOSPC).
FULL_DISK = """
import resource, signal, sys, anyio
from mainspring.audit import AuditEntry, JsonlAuditLog
from mainspring.errors import AuditLogError

def entry(size):
    return AuditEntry("tool_call", "t", time="2026-11-25T08:00:00Z", arguments={"x": "y" * size})

async def main():
    log = JsonlAuditLog(sys.argv[1], fsync="never")
    await log.append([entry(10)])
    size = len(open(sys.argv[1], "rb").read())
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 1000, resource.RLIM_INFINITY))
    try:
        await log.append([entry(5000)])
    except AuditLogError as exc:
        print("refused:", exc)
    print("size after:", len(open(sys.argv[1], "rb").read()) - size)
    await log.append([entry(10)])
    await log.aclose()

anyio.run(main)
"""


def test_a_write_that_fails_half_way_leaves_no_half_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "refused: cannot write audit log" in done.stdout and "size after: 0" in done.stdout
    stored = bodies(path)
    assert [b["seq"] for b in stored] == [1, 2] and not side_files(tmp_path)
    assert verify_file_sync(path).ok
