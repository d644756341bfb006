"""Every entry is written, in a defined strict-JSON form, and its hash covers exactly that."""

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from mainspring.audit import AuditEntry, JsonlAuditLog, SqliteAuditLog, verify_file
from mainspring.audit._encode import MAX_DEPTH


def strict_loads(line: bytes) -> Any:
    def no_constants(name: str) -> None:
        raise AssertionError(f"bare {name} in a stored line")

    return json.loads(line.decode("utf-8"), parse_constant=no_constants)


def nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    node["leaf"] = math.nan
    return root


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no")


@dataclasses.dataclass
class Point:
    x: float
    y: float


cyclic: list[Any] = [1]
cyclic.append(cyclic)

CASES: dict[str, tuple[Any, Any]] = {
    "lone surrogate": ("a\udc80b\ud83d", "a\ufffdb\ufffd"),
    "split surrogate pair": ("\ud83d\ude00", "\U0001f600"),
    "nan": (math.nan, "NaN"),
    "infinities": ([math.inf, -math.inf], ["Infinity", "-Infinity"]),
    "object": (Opaque(), "<Opaque>"),
    "broken repr": (BrokenRepr(), "<unrepresentable BrokenRepr>"),
    "dataclass with nan": (Point(1.0, math.nan), {"x": 1.0, "y": "NaN"}),
    "datetime": (dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "2026-01-02T00:00:00Z"),
    "bytes": (b"ok\xff", "ok\\xff"),
    "non-string keys": ({1: "a", "1": "b", None: "c", (1, 2): "d"}, None),
    "huge int": (1 << 5000, hex(1 << 5000)),
    "cycle": (cyclic, [1, "<cycle>"]),
    "set": ({3}, [3]),
    "line separators": ("a\u2028b\u2029c\x85d", "a\u2028b\u2029c\x85d"),
}


@pytest.mark.parametrize("store", ["jsonl", "sqlite"])
async def test_every_awkward_value_is_written_and_verifies(tmp_path: Path, store: str) -> None:
    path = tmp_path / ("audit.jsonl" if store == "jsonl" else "audit.db")
    log = JsonlAuditLog(path) if store == "jsonl" else SqliteAuditLog(path)
    entries = [
        AuditEntry("tool_call", name, time="2026-11-25T08:00:00Z", arguments={"value": value})
        for name, (value, _) in CASES.items()
    ]
    entries.append(
        AuditEntry("tool_call", "deep", time="2026-11-25T08:00:00Z", arguments=nested(10_000))
    )
    entries.append(
        AuditEntry("tool_call", "nan latency", time="2026-11-25T08:00:00Z", latency_ms=math.nan)
    )
    records = [r for e in entries for r in await log.append([e])]  # none raises
    await log.aclose()
    assert [r.seq for r in records] == list(range(1, len(entries) + 1))
    report = await verify_file(path)
    assert report.ok and report.records == len(entries), report
    if store == "jsonl":
        lines = path.read_bytes().split(b"\n")[:-1]
        assert len(lines) == len(entries)  # one record per line, even with U+2028 inside
        stored = [strict_loads(line) for line in lines]
        assert b"\\u2028" in lines[list(CASES).index("line separators")]
        for body, (name, (_, expected)) in zip(stored, CASES.items(), strict=False):
            if expected is not None:
                assert body["arguments"]["value"] == expected, name
        keys = stored[list(CASES).index("non-string keys")]["arguments"]["value"]
        assert keys == {"1": "a", "1#2": "b", "null": "c", "[1,2]": "d"}
        deep = stored[len(CASES)]["arguments"]
        assert stored[len(CASES) + 1]["latency_ms"] == "NaN"
        level, depth = deep, 2  # the body and `arguments` are the first two levels
        while "$nested_json" not in level:
            level, depth = level["a"], depth + 1
        assert depth == MAX_DEPTH + 1  # 64 levels kept as structure, the rest as one string
        rest = level["$nested_json"]
        assert rest.startswith('{"a":{"a":') and rest.endswith('{"leaf":"NaN"}' + "}" * 9_937)


async def test_time_is_stored_in_one_format(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    times: list[Any] = [
        "2026-11-25T08:00:00.123456+00:00",  # AuditSink's form (datetime.isoformat)
        "2026-11-25T08:00:00.123+00:00",  # the agent loop's form (utc_now)
        "2026-11-25T10:00:00.123456+02:00",
        "2026-11-25T08:00:00.123456Z",
        "2026-11-25T08:00:00.123456",  # naive: taken as UTC
        dt.datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=dt.UTC),
    ]
    for time in times:
        await log.append([AuditEntry("tool_call", "t", time=time)])
    await log.append([AuditEntry("tool_call", "t", time="yesterday")])
    await log.aclose()
    stored = [json.loads(line) for line in path.read_text().splitlines()]
    assert [b["time"] for b in stored[:6]] == [
        "2026-11-25T08:00:00.123456Z",
        "2026-11-25T08:00:00.123000Z",
        "2026-11-25T08:00:00.123456Z",
        "2026-11-25T08:00:00.123456Z",
        "2026-11-25T08:00:00.123456Z",
        "2026-11-25T08:00:00.123456Z",
    ]
    # Not a time: the sealing time is stored, and what was given is kept.
    assert stored[6]["detail"]["time_given"] == "yesterday"
    assert dt.datetime.fromisoformat(stored[6]["time"]).tzinfo == dt.UTC
    assert all(len(b["time"]) == 27 and b["time"].endswith("Z") for b in stored)


@pytest.mark.parametrize(("name", "key"), [("v1-plain", None), ("v1-keyed", b"fixture-key")])
async def test_records_written_before_this_format_still_verify(
    tmp_path: Path, name: str, key: bytes | None
) -> None:
    # Written by the previous release: `+00:00` times, no `alg` field.
    fixture = Path(__file__).parent / "fixtures" / f"{name}.jsonl"
    path = tmp_path / "audit.jsonl"
    path.write_bytes(fixture.read_bytes())
    assert (await verify_file(path, key=key)).ok
    log = JsonlAuditLog(path, key=key)
    await log.append([AuditEntry("tool_call", "t", time="2026-11-26T00:00:00Z")])
    await log.aclose()
    report = await verify_file(path, key=key)
    assert report.ok and report.records == 6


class BrokenMapping(dict[str, Any]):
    def items(self) -> Any:
        raise RuntimeError("cannot iterate")


async def test_a_container_that_raises_is_stored_as_its_repr(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    broken = BrokenMapping(a=1)
    await log.append([AuditEntry("tool_call", "t", time="2026-11-25T08:00:00Z", arguments=broken)])
    await log.aclose()
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["arguments"] == "{'a': 1}"
    assert (await verify_file(path)).ok
