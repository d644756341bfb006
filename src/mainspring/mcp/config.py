"""Reading `{"mcpServers": {...}}`, the shape other MCP hosts use, plus mainspring's own keys.

```json
{"mcpServers": {
  "time": {"command": "mcp-server-time", "args": [], "env": {}},
  "remote": {"url": "http://127.0.0.1:8000/mcp",
             "headers": {"Authorization": "Bearer ${REMOTE_KEY}"},
             "timeout": 60, "prefix": "remote_", "rate_limit": "10/s",
             "tools": {"search": {"timeout": 120, "requires_approval": true}}}}}
```

`${NAME}` in `env` and `headers` values is replaced from the `environ` mapping the caller passes
(the CLI passes the process environment; the library never reads it). Every mistake names the
server and the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mainspring.errors import ConfigurationError, MCPConfigError
from mainspring.mcp.base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    HttpTarget,
    MCPServerConfig,
    StdioTarget,
    ToolOverride,
)
from mainspring.tools.policy import BreakerPolicy, RateLimit

_POLICY_KEYS = {"timeout", "rate_limit", "scopes", "requires_approval", "max_result_tokens"}
_SERVER_KEYS = {
    "command", "args", "env", "cwd", "url", "headers", "type", "disabled",
    "connect_timeout", "prefix", "tools", "breaker_failures",
} | _POLICY_KEYS  # fmt: skip
_TOOL_KEYS = _POLICY_KEYS | {"cache_ttl", "name"}
_TYPES = {"stdio": "stdio", "http": "http", "streamable-http": "http", "streamableHttp": "http"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Reader:
    """Typed access to one server's entry, with errors that name the server and the key."""

    def __init__(self, server: str, entry: Mapping[str, Any], where: str = "") -> None:
        self.server, self.entry, self.where = server, entry, where

    def fail(self, key: str, message: str) -> MCPConfigError:
        return MCPConfigError(f"MCP server {self.server!r}: {self.where}{key!r} {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.entry.get(key, default)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if value is not default and isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"must be a number, got {value!r}")
        if value is not default and not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be {names}, got {type(value).__name__}")
        return value

    def seconds(self, key: str, default: float | None) -> float | None:
        value = self.get(key, (int, float), default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be positive seconds, got {value}")
        return None if value is None else float(value)

    def strings(self, key: str) -> dict[str, str]:
        value = self.get(key, dict, {})
        bad = [k for k, v in value.items() if not isinstance(v, str)]
        if bad:
            raise self.fail(key, f"values must be strings; fix {bad}")
        return dict(value)

    def policy(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if "timeout" in self.entry:
            found["timeout"] = self.seconds("timeout", None)
        if "rate_limit" in self.entry:
            try:
                found["rate_limit"] = RateLimit.parse(self.get("rate_limit", str))
            except ConfigurationError as exc:
                raise self.fail("rate_limit", str(exc)) from None
        if "scopes" in self.entry:
            scopes = self.get("scopes", list)
            if not all(isinstance(s, str) for s in scopes):
                raise self.fail("scopes", "must be a list of strings")
            found["scopes"] = frozenset(scopes)
        if "requires_approval" in self.entry:
            approval = self.get("requires_approval", (bool, str))
            if approval not in (True, False, "tainted"):
                raise self.fail(
                    "requires_approval", f"must be true, false or 'tainted', got {approval!r}"
                )
            found["requires_approval"] = approval
        if "max_result_tokens" in self.entry:
            cap = self.get("max_result_tokens", int)
            if cap < 64:
                raise self.fail(
                    "max_result_tokens",
                    f"must be at least 64 (room for output and the cut marker), got {cap}",
                )
            found["max_result_tokens"] = cap
        return found


def _expand(values: dict[str, str], environ: Mapping[str, str], reader: _Reader, key: str) -> None:
    for name, value in values.items():
        missing = [v for v in _VARIABLE.findall(value) if v not in environ]
        if missing:
            raise reader.fail(key, f"uses ${{{missing[0]}}} in {name!r}, which is not set")
        values[name] = _VARIABLE.sub(lambda m: environ[m.group(1)], value)


def _unknown(keys: Any, allowed: set[str], reader: _Reader) -> None:
    unknown = sorted(set(keys) - allowed)
    if unknown:
        raise MCPConfigError(
            f"MCP server {reader.server!r}: unknown {reader.where}keys {unknown}; "
            f"allowed: {sorted(allowed)}"
        )


def _target(reader: _Reader, environ: Mapping[str, str]) -> StdioTarget | HttpTarget:
    entry = reader.entry
    kind = _TYPES.get(reader.get("type", str, "")) if "type" in entry else None
    if "type" in entry and kind is None:
        raise reader.fail("type", f"must be one of {sorted(_TYPES)}")
    if ("command" in entry) == ("url" in entry):
        raise MCPConfigError(
            f"MCP server {reader.server!r} needs exactly one of 'command' (stdio) or 'url' "
            "(Streamable HTTP)"
        )
    if "command" in entry:
        if kind == "http":
            raise reader.fail("type", "is http but the server has a 'command'")
        args = reader.get("args", list, [])
        if not all(isinstance(a, str) for a in args):
            raise reader.fail("args", "must be a list of strings")
        env = reader.strings("env")
        _expand(env, environ, reader, "env")
        cwd = reader.get("cwd", str)
        return StdioTarget(
            reader.get("command", str), tuple(args), env=env, cwd=Path(cwd) if cwd else None
        )
    url = reader.get("url", str)
    if not url.startswith(("http://", "https://")):
        raise reader.fail("url", f"must be an http:// or https:// URL, got {url!r}")
    headers = reader.strings("headers")
    _expand(headers, environ, reader, "headers")
    return HttpTarget(url, headers=headers)


def _overrides(reader: _Reader) -> dict[str, ToolOverride]:
    found: dict[str, ToolOverride] = {}
    for tool, entry in reader.get("tools", dict, {}).items():
        if not isinstance(entry, dict):
            raise reader.fail("tools", f"entry {tool!r} must be an object")
        sub = _Reader(reader.server, entry, where=f"tools.{tool}.")
        _unknown(entry, _TOOL_KEYS, sub)
        values = sub.policy()
        if "cache_ttl" in entry:
            values["cache_ttl"] = sub.seconds("cache_ttl", None)
        if "name" in entry:
            values["name"] = sub.get("name", str)
        found[tool] = ToolOverride(**values)
    return found


def parse_server(
    name: str, entry: Mapping[str, Any], environ: Mapping[str, str]
) -> MCPServerConfig:
    """One `mcpServers` entry as an `MCPServerConfig`."""
    reader = _Reader(name, entry)
    _unknown(entry, _SERVER_KEYS, reader)
    policy = reader.policy()
    extra: dict[str, Any] = {}
    if "breaker_failures" in entry:
        extra["breaker"] = BreakerPolicy(reader.get("breaker_failures", int))
    return MCPServerConfig(
        name,
        _target(reader, environ),
        timeout=policy.pop("timeout", None) or DEFAULT_TIMEOUT,
        connect_timeout=reader.seconds("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        or DEFAULT_CONNECT_TIMEOUT,
        prefix=reader.get("prefix", str, ""),
        tools=_overrides(reader),
        **policy,
        **extra,
    )


def parse_mcp_config(
    data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> list[MCPServerConfig]:
    """The servers of an `{"mcpServers": {...}}` mapping, minus those marked `"disabled"`."""
    servers = data.get("mcpServers") if isinstance(data, Mapping) else None
    if not isinstance(servers, Mapping):
        raise MCPConfigError(
            'an MCP configuration is an object with an "mcpServers" object, e.g. '
            '{"mcpServers": {"time": {"command": "mcp-server-time"}}}'
        )
    found: list[MCPServerConfig] = []
    for name, entry in servers.items():
        if not isinstance(entry, Mapping):
            raise MCPConfigError(f"MCP server {name!r}: its entry must be an object")
        if entry.get("disabled") is True:
            continue
        found.append(parse_server(name, entry, environ or {}))
    return found


def load_mcp_config(
    path: str | Path, *, environ: Mapping[str, str] | None = None
) -> list[MCPServerConfig]:
    """Read an MCP configuration file (JSON) into server configs."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MCPConfigError(f"cannot read MCP configuration {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MCPConfigError(
            f"MCP configuration {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    return parse_mcp_config(data, environ=environ)
