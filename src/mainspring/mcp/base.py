"""What an MCP server is to mainspring: where it runs and the policy its tools get.

These are plain values with no dependency on the `mcp` package, so a configuration can be read,
checked and shown (`mainspring tools list`) before anything is started. The client
(`mainspring.mcp.client`) and the server (`mainspring.mcp.server`) need the `mcp` extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Protocol

from mainspring.errors import MCPConfigError
from mainspring.tools.base import Principal
from mainspring.tools.policy import ApprovalPolicy, BreakerPolicy, RateLimit

DEFAULT_TIMEOUT = 30.0
"""Seconds per call: long enough for a slow tool (the 5 s some hosts use kills real work), never
unbounded (a hung server must not hang the agent)."""
DEFAULT_CONNECT_TIMEOUT = 30.0
"""Seconds for a server to start and answer `initialize`."""
DEFAULT_SERVER_BREAKER = BreakerPolicy(5, window=60.0, cooldown=30.0)
"""Opens after 5 consecutive failures of any tool of one server (a dead server fails them all)."""


@dataclass(frozen=True, slots=True)
class StdioTarget:
    """A server run as a child process speaking MCP on its stdin and stdout."""

    command: str
    args: tuple[str, ...] = ()
    _: KW_ONLY
    env: Mapping[str, str] = field(default_factory=dict[str, str])
    """The only variables the server gets besides PATH, HOME and LANG (never the agent's own)."""
    cwd: Path | None = None


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """A server reached over Streamable HTTP."""

    url: str
    _: KW_ONLY
    headers: Mapping[str, str] = field(default_factory=dict[str, str])


@dataclass(frozen=True, slots=True)
class ToolOverride:
    """Per-tool settings that replace the server's (None: keep the server's value)."""

    _: KW_ONLY
    timeout: float | None = None
    rate_limit: RateLimit | None = None
    scopes: frozenset[str] | None = None
    requires_approval: ApprovalPolicy | None = None
    max_result_tokens: int | None = None
    cache_ttl: float | None = None
    """Cache results this many seconds. Set it only for a tool you know is deterministic."""
    name: str | None = None
    """The name the model sees, instead of prefix + the server's name."""


@dataclass(frozen=True, slots=True)
class MCPServerConfig:
    """One MCP server and the policy mainspring puts around its tools."""

    name: str
    target: StdioTarget | HttpTarget
    _: KW_ONLY
    timeout: float = DEFAULT_TIMEOUT
    """Seconds per tool call."""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    prefix: str = ""
    """Put before every tool name (e.g. "git_"), so two servers' tools cannot collide."""
    rate_limit: RateLimit | None = None
    """One budget per tool of this server."""
    scopes: frozenset[str] = frozenset()
    requires_approval: ApprovalPolicy = False
    max_result_tokens: int | None = None
    breaker: BreakerPolicy = DEFAULT_SERVER_BREAKER
    """Used twice: for each tool, and for the server as a whole."""
    tools: Mapping[str, ToolOverride] = field(default_factory=dict[str, ToolOverride])
    """Overrides keyed by the tool's name on the server."""

    def __post_init__(self) -> None:
        if not self.name:
            raise MCPConfigError("an MCP server needs a non-empty name")
        for label, value in (("timeout", self.timeout), ("connect_timeout", self.connect_timeout)):
            if value <= 0:
                raise MCPConfigError(
                    f"MCP server {self.name!r}: {label} must be positive seconds, got {value}"
                )
        if self.max_result_tokens is not None and self.max_result_tokens < 64:
            raise MCPConfigError(
                f"MCP server {self.name!r}: max_result_tokens must be at least 64 (room for "
                "output and the cut marker), "
                f"got {self.max_result_tokens}"
            )

    @property
    def transport(self) -> str:
        """Either "stdio" or "http", for messages and listings."""
        return "stdio" if isinstance(self.target, StdioTarget) else "http"


class KeyVerifier(Protocol):
    """Turns a bearer key into the principal it stands for, or None for an unknown key.

    The MCP HTTP server asks this on every request. Implementations compare in constant time
    and never log the key.
    """

    async def verify(self, key: str) -> Principal | None:
        """The principal holding `key`, or None."""
        ...
