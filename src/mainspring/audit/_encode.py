r"""The stored form of any value: strict JSON that every writer can write and every parser reads.

An audit record must be written whatever the call carried, so conversion never raises and never
drops a record. The rules (documented in docs/audit.md, "What is stored"):
- strings: lone surrogates become U+FFFD (a surrogate pair is joined into its character);
- floats: NaN, Infinity and -Infinity become the strings "NaN", "Infinity", "-Infinity"
  (as in the protobuf JSON mapping); strict JSON has no bare NaN;
- integers wider than 4096 bits become a hex string ("0x..."): wider ones exceed the
  decimal-digit limit of Python's own JSON reader;
- bytes: decoded as UTF-8, undecodable bytes as `\xNN` escapes;
- mapping keys become strings; a key that collides with another after conversion gets `#2`, `#3`;
- structure nested deeper than `MAX_DEPTH` levels is stored as `{"$nested_json": "<text>"}`,
  the compact JSON of the rest as one string (so no parser hits its nesting limit, and nothing is
  lost); a container met again inside itself (a cycle) becomes the string "<cycle>";
- anything else goes through pydantic's conversion (dataclasses, models, datetimes, enums, UUIDs)
  and, when that fails, its `repr()` (or `<unrepresentable TYPE>`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic_core import to_jsonable_python

MAX_DEPTH = 64
"""Levels of structure a record keeps as JSON structure (serde_json's default limit is 128)."""
_MAX_INT_BITS = 4096
_NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_LEAF = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)
_SEQUENCES = (list, tuple, set, frozenset)
_CONTAINERS = (Mapping, *_SEQUENCES)


def text(value: str) -> str:
    """`value` with lone surrogates replaced by U+FFFD, so it encodes as UTF-8."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip: a split surrogate pair is joined, a lone surrogate becomes U+FFFD.
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def storable(value: Any, depth: int = 0, path: frozenset[int] = frozenset()) -> Any:
    """`value` as plain JSON types that `json.dumps(..., allow_nan=False)` accepts."""
    kind = type(value)
    if kind is str:
        return text(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        return value if value.bit_length() <= _MAX_INT_BITS else hex(value)
    if kind is float:
        return value if math.isfinite(value) else _NONFINITE.get(value, "NaN")
    if kind is dict or kind is list or isinstance(value, _CONTAINERS):
        return _container(value, depth, path)
    return _other(value, depth, path)


def _container(value: Any, depth: int, path: frozenset[int]) -> Any:
    if id(value) in path:
        return "<cycle>"
    try:
        if depth >= MAX_DEPTH:
            return {"$nested_json": _flat_json(value)}
        inner = path | {id(value)}
        if type(value) is dict or isinstance(value, Mapping):
            return _mapping(value, depth + 1, inner)
        return [storable(item, depth + 1, inner) for item in value]
    except Exception:  # a container whose iteration raises: keep what repr says of it
        return safe_repr(value)


def _other(value: Any, depth: int, path: frozenset[int]) -> Any:
    if isinstance(value, str):
        return text(str.__str__(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return storable(int(value) if isinstance(value, int) else float(value))
        except Exception:  # a numeric subclass with a broken __int__ / __float__
            return safe_repr(value)
    try:
        converted = to_jsonable_python(value, fallback=safe_repr)
    except Exception:  # too deep, cyclic, or a serializer that raises: keep its repr
        return safe_repr(value)
    if type(converted) is type(value):  # nothing converted it: never loop
        return safe_repr(value)
    return storable(converted, depth, path)


def _mapping(value: Mapping[Any, Any], depth: int, path: frozenset[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw, item in value.items():
        key = raw if type(raw) is str and raw.isascii() else mapping_key(raw)
        if key in out:
            n = 2
            while f"{key}#{n}" in out:
                n += 1
            key = f"{key}#{n}"
        # Inline the commonest leaves: this loop is most of the cost of sealing a record.
        out[key] = item if _plain_leaf(item) else storable(item, depth, path)
    return out


def _plain_leaf(item: Any) -> bool:
    """Already stored as is: the common case, checked without a call to `storable`."""
    kind = type(item)
    if kind is str:
        return item.isascii()  # type: ignore[no-any-return]
    if kind is float:
        return math.isfinite(item)
    return item is None or kind is bool or (kind is int and -(1 << 63) <= item < 1 << 63)


def mapping_key(raw: Any) -> str:
    """A mapping key as the string JSON needs (what `json.dumps` would write for it)."""
    if type(raw) is str:
        return text(raw)
    key = storable(raw)
    return key if isinstance(key, str) else _LEAF.encode(key)


def safe_repr(value: Any) -> str:
    """`repr(value)`, or a placeholder naming the type when repr itself fails."""
    try:
        return text(repr(value))
    except Exception:  # RecursionError on deep structures, or a broken __repr__
        return f"<unrepresentable {type(value).__qualname__}>"


class _Frame:
    __slots__ = ("close", "first", "ident", "items", "mapping")

    def __init__(self, value: Any) -> None:
        self.mapping = isinstance(value, Mapping)
        self.items: Iterator[Any] = iter(value.items() if self.mapping else value)
        self.close = "}" if self.mapping else "]"
        self.first = True
        self.ident = id(value)


def _flat_json(root: Any) -> str:
    """Compact JSON text of deeply nested structure, built with an explicit stack (no recursion)."""
    out: list[str] = []
    stack: list[_Frame] = []
    on_path: set[int] = set()
    value = root
    while True:
        if not isinstance(value, _CONTAINERS):
            out.append(_LEAF.encode(storable(value, MAX_DEPTH)))
        elif id(value) in on_path:
            out.append('"<cycle>"')
        else:
            frame = _Frame(value)
            stack.append(frame)
            on_path.add(frame.ident)
            out.append("{" if frame.mapping else "[")
        while stack:
            top = stack[-1]
            item: Any = next(top.items, _END)
            if item is _END:
                out.append(top.close)
                on_path.discard(top.ident)
                stack.pop()
                continue
            if not top.first:
                out.append(",")
            top.first = False
            if top.mapping:
                out.append(_LEAF.encode(mapping_key(item[0])) + ":")
                value = item[1]
            else:
                value = item
            break
        else:
            return "".join(out)


_END = object()


def audit_time(value: Any, now: dt.datetime | None = None) -> tuple[str, str | None]:
    """The one time format of audit records, `2026-11-25T08:00:00.000000Z`, and what was given.

    An aware time is converted to UTC, a naive one is taken as UTC. A value that is not a time
    is replaced by `now` (the moment of sealing) and returned second, to be kept in the record.
    """
    moment: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None:
        given = text(value) if isinstance(value, str) else safe_repr(value)
        return format_time(now or dt.datetime.now(dt.UTC)), given
    return format_time(moment), None


def format_time(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`: fixed width, so text order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        moment = moment.astimezone(dt.UTC)
    except (OverflowError, ValueError):  # an offset that pushes year 1 or 9999 out of range
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
