"""Data types shared by every part of mainspring.

They are plain frozen dataclasses so that they are cheap to build on hot paths, hashable where it
makes sense, and trivially serialisable with `dataclasses.asdict` for run records and audit logs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

StopReason = Literal[
    "final_answer",
    "max_iterations",
    "max_tokens",
    "max_cost",
    "max_seconds",
    "max_tool_calls",
    "no_progress",
    "error",
    "needs_attention",
    "cancelled",
]
"""Why a run ended. Only `final_answer` means the task was answered."""

RunStatus = Literal[
    "queued", "running", "completed", "failed", "needs_attention", "cancelled", "interrupted"
]
"""A recorded run's state. `queued`: accepted, not yet started (a service or engine queue).
`needs_attention`: a non-idempotent tool call started and its outcome is unknown (or a secret
it needs was not kept); an operator must look. `interrupted`: the operator stopped the process
(Ctrl-C); `resume` continues it."""

RunKind = Literal["agent", "plan"]
"""What a recorded run is: one agent loop, or a plan whose steps are agent sub-runs."""


def status_for(stop: StopReason) -> RunStatus:
    """The recorded status of a run that stopped for `stop`: caps are completed runs too."""
    if stop in ("needs_attention", "cancelled"):
        return stop
    return "failed" if stop == "error" else "completed"


def read_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse a model's arguments text: the object, or `{}` and what is wrong with the text.

    The one parser of tool arguments. A problem is reported to the model as `invalid_arguments`
    (never `tool_error`), so it can correct the call.
    """
    text = raw.strip()
    if not text:
        return {}, None
    try:
        value = json.loads(text)
    except ValueError as exc:
        where = (
            f" ({exc.msg} at position {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        )
        return {}, (
            f'arguments are not valid JSON{where}; send a JSON object such as {{"name": value}}'
        )
    if not isinstance(value, dict):
        return {}, _not_an_object(value)
    return value, None


def _not_an_object(value: object) -> str:
    return (
        f"arguments must be a JSON object, got {type(value).__name__}; "
        'send {"parameter": value, ...}'
    )


def call_signature(name: str, arguments: Mapping[str, Any]) -> str:
    """One call's identity as text, `name({...})` with canonical JSON arguments.

    Replay matches recorded calls by it and the loop spots repeated calls by it.
    """
    return f"{name}({json.dumps(arguments, sort_keys=True, default=repr)})"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run one tool.

    `arguments` is always a dict. Providers that deliver JSON text may pass the text: it is
    parsed here once, kept in `raw_arguments` for the record, and text that is not a JSON object
    leaves `arguments` empty and `problem` saying why (the executor answers `invalid_arguments`).
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])
    _: KW_ONLY
    raw_arguments: str | None = field(default=None, compare=False)
    """The arguments exactly as the model wrote them, when it wrote text."""
    problem: str | None = field(default=None, compare=False)
    """Why the arguments could not be read; None when they are a JSON object."""

    def __post_init__(self) -> None:
        arguments: Any = self.arguments
        if isinstance(arguments, dict):
            return
        if isinstance(arguments, str):
            parsed, problem = read_arguments(arguments)
            object.__setattr__(self, "raw_arguments", arguments)
        else:  # a list or a number from a caller that ignored the type
            parsed, problem = {}, _not_an_object(arguments)
        object.__setattr__(self, "arguments", parsed)
        object.__setattr__(self, "problem", problem)

    @classmethod
    def from_text(cls, id: str, name: str, text: str) -> ToolCall:
        """A call whose arguments are the model's JSON text (parsed here, kept beside)."""
        arguments: Any = text
        return cls(id, name, arguments)

    def arguments_json(self) -> str:
        """The arguments as JSON text: what the model wrote when it wrote text."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments, ensure_ascii=False)


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
