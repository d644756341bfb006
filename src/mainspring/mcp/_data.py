"""What a server says about its tools is data, not trusted text: names mapped, sizes bounded.

A server's tool names, descriptions and schemas reach the model's prompt and the approver's
screen. They are bounded (a 1 MB description or a schema nested 500 deep is refused or cut),
and characters a human cannot see (zero-width, bidirectional overrides, tag characters) are
shown as `<U+XXXX>` so a hidden instruction cannot ride along in them.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from mainspring.errors import ToolDefinitionError

MAX_DESCRIPTION_CHARS = 4_000
MAX_SCHEMA_BYTES = 64_000
MAX_SCHEMA_DEPTH = 24
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def model_name(prefix: str, name: str) -> str:
    """The name the model sees: `prefix + name`, mapped to `^[A-Za-z0-9_-]{1,64}$`.

    Each other character becomes `_`; a name still too long keeps its first 55 characters and
    gets `_` plus 8 hex digits of the SHA-256 of the original, so the mapping is deterministic
    and two long names stay distinct.
    """
    full = prefix + name
    if _NAME.match(full):
        return full
    mapped = _UNSAFE.sub("_", full) or "_"
    if len(mapped) > 64:
        digest = hashlib.sha256(full.encode()).hexdigest()[:8]
        mapped = f"{mapped[:55]}_{digest}"
    return mapped


def _visible(char: str) -> str:
    if char in "\n\t":
        return char
    category = unicodedata.category(char)
    # Cc control, Cf format (zero-width, bidi, tags), Co private use, Cs surrogates, Cn unassigned.
    if category in ("Cc", "Cf", "Co", "Cs", "Cn"):
        return f"<U+{ord(char):04X}>"
    return char


def neutralise(text: str) -> str:
    """Show invisible and control characters as `<U+XXXX>`."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(_visible(c) for c in text)


def clean_description(text: str | None, *, tool: str) -> str:
    """A bounded, visible description (a missing one says where the tool comes from)."""
    text = neutralise(text or "").strip() or f"MCP tool {tool!r} (the server gave no description)"
    if len(text) > MAX_DESCRIPTION_CHARS:
        return text[:MAX_DESCRIPTION_CHARS] + " [description cut by mainspring]"
    return text


def _depth(value: Any, limit: int) -> int:
    """Nesting depth, stopping as soon as it passes `limit`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _strings_visible(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dict):
        # Keys are parameter names the call must send back unchanged: they are checked, not
        # rewritten (see clean_schema).
        return {k: _strings_visible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings_visible(v) for v in value]
    return value


def clean_schema(schema: Any, *, tool: str) -> dict[str, Any]:
    """The input schema, bounded and with visible strings; refuses one that is not usable."""
    if not isinstance(schema, dict):
        raise ToolDefinitionError(f"MCP tool {tool!r}: inputSchema is not a JSON object")
    size = len(json.dumps(schema))
    if size > MAX_SCHEMA_BYTES:
        raise ToolDefinitionError(
            f"MCP tool {tool!r}: inputSchema is {size} bytes, over the {MAX_SCHEMA_BYTES} limit"
        )
    if _depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise ToolDefinitionError(
            f"MCP tool {tool!r}: inputSchema nests deeper than {MAX_SCHEMA_DEPTH} levels"
        )
    properties = schema.get("properties", {})
    if isinstance(properties, dict):
        hidden = [k for k in properties if neutralise(k) != k]
        if hidden:
            raise ToolDefinitionError(
                f"MCP tool {tool!r}: parameter names with invisible characters: "
                f"{[neutralise(k) for k in hidden]}"
            )
    cleaned: dict[str, Any] = _strings_visible(schema)
    cleaned.setdefault("type", "object")
    return cleaned
