"""The agent's value types: steps, results, the events of a run, and the memory protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from mainspring.agent.budget import StopReason
from mainspring.messages import Message, ModelResponse, ToolCall, ToolResult, Usage

AgentProtocol = Literal["native", "react"]
"""How tools are offered: the provider's native tool calls, or the ReAct text protocol."""


@dataclass(frozen=True, slots=True)
class Step:
    """One model call and the tool calls it led to."""

    index: int
    response: ModelResponse
    tool_results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended. A run that hit a cap still carries what it had (`output`, `steps`)."""

    output: str
    """The final answer, or the last text the model wrote when the run stopped early."""
    _: KW_ONLY
    stop_reason: StopReason
    run_id: str
    steps: tuple[Step, ...] = ()
    usage: Usage = Usage()
    messages: tuple[Message, ...] = ()
    """The whole conversation, for inspection or to continue it."""
    error: str | None = None
    """What went wrong when `stop_reason` is "error"."""

    @property
    def cost_usd(self) -> float:
        """Dollars spent on model calls."""
        return self.usage.cost_usd


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelRequestStarted:
    """A model call is about to be sent."""

    step: int
    prompt_tokens: int | None = None
    """The prompt's size as counted by the model's tokenizer, when a budget needed it."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A fragment of the model's text, as it streams."""

    step: int
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """A tool call is about to run."""

    step: int
    call: ToolCall


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call ran (or was refused by a guard): `result.ok` says which."""

    step: int
    call: ToolCall
    result: ToolResult


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """The model answered."""

    step: int
    output: str


@dataclass(frozen=True, slots=True)
class BudgetStop:
    """A cap ended the run before the next model call (or tool calls)."""

    step: int
    reason: StopReason


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The last event of every run."""

    result: RunResult


AgentEvent = (
    ModelRequestStarted
    | TextDelta
    | ToolCallStarted
    | ToolCallFinished
    | FinalAnswer
    | BudgetStop
    | RunFinished
)
"""What `Agent.run_stream` yields; the last event is always `RunFinished`."""


# -- memory ------------------------------------------------------------------------------------


@runtime_checkable
class MemoryContext(Protocol):
    """What a memory returns for one model call."""

    text: str

    def to_messages(self) -> list[Message]:
        """The context as messages to put before the conversation (none when empty)."""
        ...


@runtime_checkable
class Memory(Protocol):
    """What the agent needs from a memory; `mainspring.memory.AgentMemory` fits it.

    The agent writes the task, tool results and the answer with `add_short_term` (the role in
    `metadata["role"]`) and asks `get_context` for what to show the model before each call.
    """

    async def add_short_term(
        self, content: str, *, importance: float = 0.5, metadata: Mapping[str, Any] | None = None
    ) -> object:
        """Remember one message."""
        ...

    async def get_context(self, max_tokens: int, query: str | None = None) -> MemoryContext:
        """What to show the model, at most `max_tokens` tokens."""
        ...


def last_text(steps: Sequence[Step]) -> str:
    """The last non-empty text the model wrote: the partial output of a stopped run."""
    for step in reversed(steps):
        if step.response.message.content:
            return step.response.message.content
    return ""
