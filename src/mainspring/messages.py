"""Data types shared by every part of mainspring.

They are plain frozen dataclasses so that they are cheap to build on hot paths, hashable where it
makes sense, and trivially serialisable with `dataclasses.asdict` for run records and audit logs.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]

ToolErrorKind = Literal[
    "not_found",
    "invalid_arguments",
    "forbidden",
    "approval_required",
    "rate_limited",
    "circuit_open",
    "timeout",
    "tool_error",
    "sandbox_violation",
    "unavailable",
    "internal",
    "budget_exceeded",
]
"""Why a tool call did not produce a value. The model sees the kind and the message.

The first nine name the call's or the tool's fault. `unavailable` (a backend such as Redis could
not be reached in time), `internal` (a bug inside mainspring's guard chain) and `budget_exceeded`
(the run's tool-call budget is spent) are nobody's fault but mainspring's or the run's: they never
count against the tool's health (circuit breaker, error statistics).
"""

NOT_THE_TOOLS_FAULT: frozenset[ToolErrorKind] = frozenset(
    {"unavailable", "internal", "budget_exceeded"}
)
"""The error kinds that never count against a tool's health."""

FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run one tool.

    `arguments` is what the model sent: a dict, or the raw JSON string some providers deliver.
    The executor accepts both and reports malformed JSON as `invalid_arguments`.
    """

    id: str
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict[str, Any])


@dataclass(frozen=True, slots=True)
class ToolError:
    """Why a tool call failed, in words a model can act on."""

    kind: ToolErrorKind
    message: str
    _: KW_ONLY
    retry_after: float | None = None
    """Seconds after which the same call may succeed (rate limits, open breakers)."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call. Never an exception: failures carry `error`."""

    call_id: str
    ok: bool
    content: str
    """Text for the model: the tool's return value (JSON for non-strings) or the error message."""
    _: KW_ONLY
    error: ToolError | None = None
    latency_ms: float = 0.0
    cached: bool = False
    tool: str = ""
    raw_content: str | None = None
    """The tool's full output when `content` was cut to the result-token cap; None otherwise.

    Run records keep it so nothing is lost; the model only ever sees `content`.
    """


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in provider-neutral form."""

    role: Role
    content: str = ""
    _: KW_ONLY
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and money spent by one or more model calls; adds up with `+`."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_usd + other.cost_usd,
        )


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """One reply of a model: the message, what it cost, and why it stopped."""

    message: Message
    _: KW_ONLY
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: FinishReason = "stop"
