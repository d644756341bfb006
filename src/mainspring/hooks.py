"""The one observation surface: every run, model call and tool call is announced here.

The run journal, the audit log, the typed event stream, event sinks and (next) telemetry are
subscribers: each subclasses `Hooks` and overrides the stages it cares about. Callers (the loop,
the model wrappers, the tool executor) announce through `Observers`, which does the two things no
subscriber may skip or repeat, once and before any subscriber sees a record:

- redaction: a parameter a tool declares secret is replaced by `***` (and, with an operator's
  `Sealer`, kept encrypted in `sealed` for the journal, so a resumed run can still use it);
- sanitising: text that cannot be encoded (lone surrogates) is escaped and data nested too deep
  is cut, so every record can be written by every subscriber.

One record type per kind of call, started then finished, paired by `(step, call_id)`:

```
RunSpan          run_started / run_finished     (finished: stop_reason, usage, error set)
ModelCallRecord  model_started / model_finished (finished: response or error set)
ToolCallRecord   tool_started / tool_finished   (finished: result set)
```

A subscriber that fails while a call is announced as started stops the call (nothing has
happened yet); one that fails after the call happened is logged under `mainspring.hooks` and
never turns a finished call into an exception.
"""

from __future__ import annotations

import json
import logging
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol

from mainspring.messages import (
    ModelResponse,
    RunKind,
    StopReason,
    ToolCall,
    ToolResult,
    Usage,
)

logger = logging.getLogger("mainspring.hooks")

REDACTED = "***"
"""What a secret parameter's value is replaced by in every record."""

MAX_DEPTH = 32
"""Nesting kept in recorded data; deeper values become a marker string."""


class Source(NamedTuple):
    """An earlier tool result that was in the model's context (one item of `provenance`).

    A named tuple: one is made per tool result on the loop's hot path.
    """

    call_id: str
    tool: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpan:
    """One run: announced when it starts and again, with its outcome, when it ends."""

    run_id: str
    task: str
    model: str
    principal: str
    kind: RunKind = "agent"
    resumed: bool = False
    stop_reason: StopReason | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCallRecord:
    """One model call. `response` and `error` are None while it runs."""

    run_id: str | None
    step: int
    call_id: str
    """`model` for a step's call; a second call in the same step is `model-2`, and so on."""
    model: str
    principal: str | None
    time: str
    response: ModelResponse | None = None
    error: str | None = None
    latency_ms: float = 0.0
    sealed: str | None = None
    """The secret tool arguments in `response`, encrypted (journal only)."""

    @property
    def key(self) -> tuple[int, str]:
        """The pairing key of this call's start and end."""
        return (self.step, self.call_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallRecord:
    """One tool call. `result` is None while it runs; `call.arguments` are redacted."""

    run_id: str | None
    step: int
    call: ToolCall
    principal: str | None
    time: str
    idempotency_key: str | None = None
    idempotent: bool = False
    tool_hash: str | None = None
    provenance: tuple[Source, ...] = ()
    """The tool results in the model's context when it asked for this call (empty: the call
    follows from the task alone)."""
    result: ToolResult | None = None
    sealed: str | None = None
    """The call's secret arguments, encrypted (journal only)."""
    secrets: frozenset[str] = frozenset()
    """Names of the parameters redacted in `call` (never their values)."""

    @property
    def key(self) -> tuple[int, str]:
        """The pairing key of this call's start and end."""
        return (self.step, self.call.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalRecord:
    """One memory retrieval for a run's prompt, announced once it is done (start and length)."""

    run_id: str
    step: int
    started_ns: int
    """`time.time_ns()` when the retrieval began (for a span's start)."""
    latency_ms: float
    max_tokens: int
    tokens: int | None = None
    """Tokens of the context retrieved; None when the retrieval failed."""
    error: str | None = None


class Hooks:
    """A subscriber: override the stages you observe; every other stage does nothing."""

    async def run_started(self, run: RunSpan) -> None:
        """A run began (or resumed)."""

    async def run_finished(self, run: RunSpan) -> None:
        """A run ended; `run.stop_reason` says why."""

    async def model_started(self, record: ModelCallRecord) -> None:
        """A model call is about to be sent."""

    async def model_finished(self, record: ModelCallRecord) -> None:
        """A model call returned (`record.response`) or failed (`record.error`)."""

    async def tool_started(self, record: ToolCallRecord) -> None:
        """A tool call is about to run. Written before the side effect."""

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """A tool call ended, well or not (`record.result`)."""

    async def memory_retrieved(self, record: RetrievalRecord) -> None:
        """Memory was read for the run's prompt (how long, how many tokens)."""


class Sealer(Protocol):
    """Encrypts secret values for the run record with a key the operator holds."""

    def seal(self, data: bytes) -> str:
        """Ciphertext as text."""
        ...

    def unseal(self, token: str) -> bytes:
        """The data back; raises when the key is wrong or the token was altered."""
        ...


SecretsOf = Callable[[str], frozenset[str]]
"""The secret parameter names of a tool, by tool name."""


def _no_secrets(name: str) -> frozenset[str]:
    return frozenset()


class Observers:
    """Announces records to subscribers, redacted and sanitised once (see the module docstring).

    Args:
        hooks: the subscribers, called in order; the same object given twice is called once.
        secrets_of: the secret parameters of a tool, by name (redacts model replies' calls).
        sealer: keeps redacted values encrypted for the journal; without one they are dropped.
    """

    __slots__ = ("hooks", "secrets_of", "sealer")

    def __init__(
        self,
        hooks: Iterable[Hooks] = (),
        *,
        secrets_of: SecretsOf | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        unique: dict[int, Hooks] = {}
        for hook in hooks:
            unique.setdefault(id(hook), hook)
        self.hooks: tuple[Hooks, ...] = tuple(unique.values())
        self.secrets_of = secrets_of or _no_secrets
        self.sealer = sealer

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def with_hooks(self, extra: Iterable[Hooks]) -> Observers:
        """These subscribers followed by `extra`, with the same redaction."""
        return Observers((*self.hooks, *extra), secrets_of=self.secrets_of, sealer=self.sealer)

    async def run_started(self, run: RunSpan) -> None:
        """Announce a run's start; a failing subscriber stops the run before it begins."""
        for hook in self.hooks:
            await hook.run_started(run)

    async def run_finished(self, run: RunSpan) -> None:
        """Announce a run's end; failures are logged."""
        if not self.hooks:
            return
        run = replace(run, error=clean_text(run.error))
        for hook in self.hooks:
            await _after(hook.run_finished, run)

    async def model_started(self, record: ModelCallRecord) -> None:
        """Announce a model call about to be sent."""
        for hook in self.hooks:
            await hook.model_started(record)

    async def model_finished(self, record: ModelCallRecord) -> None:
        """Announce a model call's outcome, redacted and sanitised; failures are logged."""
        record = self.clean_model(record)
        for hook in self.hooks:
            await _after(hook.model_finished, record)

    async def tool_started(self, record: ToolCallRecord) -> ToolCallRecord:
        """Announce a tool call before it runs; returns the record as subscribers saw it."""
        record = self.clean_tool(record)
        for hook in self.hooks:
            await hook.tool_started(record)
        return record

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """Announce a tool call's result; failures are logged, never raised."""
        if record.result is not None:
            result = clean_result(record.result)
            if result is not record.result:
                record = replace(record, result=result)
        for hook in self.hooks:
            await _after(hook.tool_finished, record)

    async def memory_retrieved(self, record: RetrievalRecord) -> None:
        """Announce a finished memory retrieval; failures are logged, never raised."""
        for hook in self.hooks:
            await _after(hook.memory_retrieved, record)

    def clean_tool(self, record: ToolCallRecord) -> ToolCallRecord:
        """The record with the call's secrets redacted (sealed when a sealer is set)."""
        secrets = record.secrets or self.secrets_of(record.call.name)
        call, hidden = redact_call(record.call, secrets)
        sealed = record.sealed
        if hidden and self.sealer is not None:
            sealed = self.sealer.seal(json.dumps(hidden).encode())
        if call is record.call and sealed is record.sealed and secrets is record.secrets:
            return record  # nothing to hide or clean: no copy (this runs for every call)
        return replace(record, call=call, sealed=sealed, secrets=secrets)

    def clean_model(self, record: ModelCallRecord) -> ModelCallRecord:
        """The record with secret tool arguments in the reply redacted and its text cleaned."""
        response = record.response
        if response is None:
            error = clean_text(record.error)
            return record if error is record.error else replace(record, error=error)
        hidden: dict[str, dict[str, Any]] = {}
        calls = []
        for call in response.message.tool_calls:
            clean, secret = redact_call(call, self.secrets_of(call.name))
            if secret:
                hidden[call.id] = secret
            calls.append(clean)
        message = response.message
        content = clean_text(message.content)
        same_calls = all(map(operator.is_, calls, message.tool_calls))
        if content is message.content and same_calls and not hidden:
            return record  # nothing to hide or clean: no copy (this runs for every model call)
        message = replace(message, content=content, tool_calls=tuple(calls))
        sealed = record.sealed
        if hidden and self.sealer is not None:
            sealed = self.sealer.seal(json.dumps(hidden).encode())
        return replace(record, response=replace(response, message=message), sealed=sealed)


async def _after(method: Callable[[Any], Any], record: object) -> None:
    # The call already happened: a subscriber's failure must not turn it into an exception.
    try:
        await method(record)
    except Exception:
        logger.exception("hook %s failed; the call it observed is unaffected", method)


def redact_call(call: ToolCall, secrets: frozenset[str]) -> tuple[ToolCall, dict[str, Any]]:
    """The call with secret arguments replaced and cleaned, and the values removed."""
    hidden = {k: v for k, v in call.arguments.items() if k in secrets and v != REDACTED}
    arguments = {k: (REDACTED if k in secrets else v) for k, v in call.arguments.items()}
    raw = call.raw_arguments
    if raw is not None and (hidden or not _encodable(raw)):
        # The raw text holds the secret (or unwritable text): keep only the redacted form.
        raw = json.dumps(clean_data(arguments), ensure_ascii=False)
    if not hidden and raw is call.raw_arguments and _clean_args(call.arguments):
        return call, {}
    clean = ToolCall(
        call.id,
        call.name,
        clean_data(arguments),
        raw_arguments=raw,
        problem=call.problem,
    )
    return clean, clean_data(hidden)


def _clean_args(arguments: Mapping[str, Any]) -> bool:
    # Fast path: flat, encodable, finite scalars need no copy.
    for value in arguments.values():
        if isinstance(value, str):
            if not _encodable(value):
                return False
        elif isinstance(value, float):
            if not math.isfinite(value):
                return False
        elif not isinstance(value, int | bool | None):
            return False
    return True


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str | None) -> Any:
    """Text that UTF-8 can encode: lone surrogates become backslash escapes (backslash-udc80)."""
    if text is None or _encodable(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def clean_data(value: Any, depth: int = 0) -> Any:
    """JSON-safe data: encodable text, finite numbers as numbers (others as text), depth cut.

    Anything that is not JSON data (an object, a set) becomes its `repr`, cleaned the same way.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= MAX_DEPTH:
        return f"<nested deeper than {MAX_DEPTH} levels: cut>"
    if isinstance(value, Mapping):
        return {str(clean_text(str(k))): clean_data(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(v, depth + 1) for v in value]
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the record
        text = f"<unrepresentable {type(value).__name__}: {exc}>"
    return clean_text(text)


def clean_result(result: ToolResult) -> ToolResult:
    """The result with its text encodable."""
    content = clean_text(result.content)
    error = result.error
    if error is not None and not _encodable(error.message):
        error = replace(error, message=clean_text(error.message))
    if content is result.content and error is result.error:
        return result
    return replace(result, content=content, error=error)


@dataclass(slots=True, kw_only=True)
class RunScope:
    """What the callers inside one run share: its identity, its observers, its step, its clock.

    The loop (or a plan) creates one per run and passes it down explicitly: model wrappers are
    bound to it (`WrapperModel.bind`) and tool calls carry it (`CallContext.scope`).
    """

    run_id: str
    principal: str
    observers: Observers = field(default_factory=Observers)
    step: int = 0
    """The step now running; set by the loop before its model call and its tool calls."""
    provenance: tuple[Source, ...] = ()
    """Tool results in the model's context at this step (set by the loop)."""
    remaining_seconds: Callable[[], float | None] = lambda: None
    """Seconds left of the run's time budget (None: no cap); model wrappers enforce it."""
    _calls: dict[int, int] = field(default_factory=dict[int, int], init=False, repr=False)

    def model_call_id(self) -> str:
        """The id of the next model call at this step: `model`, then `model-2`, ..."""
        n = self._calls.get(self.step, 0) + 1
        self._calls[self.step] = n
        return "model" if n == 1 else f"model-{n}"


def unseal_arguments(sealer: Sealer | None, sealed: str | None) -> dict[str, Any] | None:
    """The secret values kept for a record, or None when there are none or no key opens them."""
    if sealer is None or sealed is None:
        return None
    try:
        data = json.loads(sealer.unseal(sealed))
    except Exception:
        return None
    return data if isinstance(data, dict) else None


def restore_call(call: ToolCall, values: Mapping[str, Any]) -> ToolCall:
    """A redacted call with its secret values put back (for a resumed run)."""
    arguments = {**call.arguments, **values}
    return ToolCall(call.id, call.name, arguments)


def redacted_params(call: ToolCall) -> list[str]:
    """The parameters of a recorded call whose values were redacted."""
    return [k for k, v in call.arguments.items() if v == REDACTED]
