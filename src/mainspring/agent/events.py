"""What a run reports as it goes (`Agent.run_stream`) and what it returns (`RunResult`)."""

from __future__ import annotations

import asyncio
from dataclasses import KW_ONLY, dataclass, field

from mainspring.hooks import Hooks, ModelCallRecord, ToolCallRecord
from mainspring.messages import Message, ModelResponse, StopReason, ToolCall, ToolResult, Usage


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of a run: its answer (or partial answer), what it cost, and why it stopped."""

    output: str
    """The final answer; with any other stop reason, the model's last text (may be empty)."""
    _: KW_ONLY
    stop_reason: StopReason
    run_id: str
    steps: int
    """Model calls made (including ones replayed from the record on resume)."""
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    """What went wrong, when `stop_reason` is `error` or `needs_attention`."""
    messages: tuple[Message, ...] = ()
    """The whole conversation, for inspection."""

    @property
    def cost_usd(self) -> float:
        """Dollars spent on model calls."""
        return self.usage.cost_usd

    @property
    def ok(self) -> bool:
        """True when the run ended with a final answer."""
        return self.stop_reason == "final_answer"


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run began (or resumed)."""

    run_id: str
    task: str
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class ModelRequestStarted:
    """The loop is about to call the model (or take its reply from the record)."""

    step: int
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A fragment of the model's reply as it streams."""

    step: int
    text: str


@dataclass(frozen=True, slots=True)
class ModelResponded:
    """The model's whole reply for one step."""

    step: int
    response: ModelResponse
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """A tool call is about to run."""

    step: int
    call: ToolCall


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call ended; `result.ok` says how."""

    step: int
    result: ToolResult
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """The model answered the task."""

    output: str


@dataclass(frozen=True, slots=True)
class BudgetStop:
    """A cap was reached; the run stops with a partial result."""

    reason: StopReason


@dataclass(frozen=True, slots=True)
class RunFinished:
    """Always the last event."""

    result: RunResult


AgentEvent = (
    RunStarted
    | ModelRequestStarted
    | TextDelta
    | ModelResponded
    | ToolCallStarted
    | ToolCallFinished
    | FinalAnswer
    | BudgetStop
    | RunFinished
)


class EventBuffer(Hooks):
    """The typed event stream as a subscriber: records become events the loop hands out."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []
        self.arrived = asyncio.Event()
        """Set while undrained events wait (a streaming loop wakes on it)."""

    def _add(self, event: AgentEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def model_finished(self, record: ModelCallRecord) -> None:
        """A reply becomes `ModelResponded`."""
        if record.response is not None:
            self._add(ModelResponded(record.step, record.response))

    async def tool_started(self, record: ToolCallRecord) -> None:
        """`ToolCallStarted`, arguments redacted."""
        self._add(ToolCallStarted(record.step, record.call))

    async def tool_finished(self, record: ToolCallRecord) -> None:
        """`ToolCallFinished`."""
        if record.result is not None:
            self._add(ToolCallFinished(record.step, record.result))

    def drain(self) -> list[AgentEvent]:
        """The events since the last drain, oldest first."""
        out, self.events = self.events, []
        self.arrived.clear()
        return out
