"""What a run record holds, and the `RunStore` protocol that keeps it durable.

A run is its `RunInfo` (task, model, settings, status, totals) plus an append-only list of
events. Events are written BEFORE the side effect they announce (`ToolStarted`) and right after
the result exists (`ModelCalled`, `ToolFinished`), so a process killed at any point leaves a
record from which `Agent.resume` can continue without repeating completed work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, TypeAdapter

from mainspring.clock import utc_now
from mainspring.messages import (
    ModelResponse,
    RunKind,
    RunStatus,
    StopReason,
    ToolCall,
    ToolResult,
    Usage,
)

__all__ = [
    "EVENT_ADAPTER",
    "INFO_ADAPTER",
    "ModelCalled",
    "RunEvent",
    "RunInfo",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "ToolFinished",
    "ToolStarted",
    "utc_now",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """A run's identity, configuration and latest totals."""

    run_id: str
    task: str
    model: str = ""
    settings: dict[str, Any] = field(default_factory=dict[str, Any])
    """Whatever the agent needs to continue the run (protocol, budget, instructions, tools)."""
    kind: RunKind = "agent"
    """An agent loop's run, or a plan's (its steps are agent sub-runs)."""
    status: RunStatus = "running"
    stop_reason: StopReason | None = None
    output: str | None = None
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    tool_calls: int = 0
    note: str | None = None
    """Why the run stopped where an operator must look (needs_attention, failed)."""
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class ModelCalled:
    """A model call completed: its response is never requested again on resume."""

    step: int
    response: ModelResponse
    _: KW_ONLY
    sealed: str | None = None
    """Secret tool arguments of the reply, encrypted with the operator's key (see hooks)."""
    kind: Literal["model_called"] = "model_called"
    time: str = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class ToolStarted:
    """A tool call is about to run. Written before the side effect."""

    step: int
    call: ToolCall
    _: KW_ONLY
    idempotency_key: str
    idempotent: bool = False
    sealed: str | None = None
    """The call's secret arguments, encrypted with the operator's key; `call` has them `***`."""
    kind: Literal["tool_started"] = "tool_started"
    time: str = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class ToolFinished:
    """A tool call ended (well or not): its result is reused on resume."""

    step: int
    result: ToolResult
    _: KW_ONLY
    kind: Literal["tool_finished"] = "tool_finished"
    time: str = field(default_factory=utc_now)


RunEvent = Annotated[ModelCalled | ToolStarted | ToolFinished, Field(discriminator="kind")]
EVENT_ADAPTER: TypeAdapter[ModelCalled | ToolStarted | ToolFinished]
INFO_ADAPTER: TypeAdapter[RunInfo]


@cache
def _adapters() -> dict[str, TypeAdapter[Any]]:
    # Built on first use, not at import: pydantic's schema build for these costs ~90 ms, which
    # every program importing the agent would pay even when it keeps no run store.
    return {"EVENT_ADAPTER": TypeAdapter(RunEvent), "INFO_ADAPTER": TypeAdapter(RunInfo)}


def __getattr__(name: str) -> Any:
    if name in ("EVENT_ADAPTER", "INFO_ADAPTER"):
        return _adapters()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything stored about one run."""

    info: RunInfo
    events: tuple[ModelCalled | ToolStarted | ToolFinished, ...]

    def finished_tools(self) -> dict[str, ToolResult]:
        """Results of completed tool calls, by idempotency key (paired by step and call id)."""
        started = {(e.step, e.call.id): e for e in self.events if isinstance(e, ToolStarted)}
        done: dict[str, ToolResult] = {}
        for event in self.events:
            if isinstance(event, ToolFinished):
                start = started.get((event.step, event.result.call_id))
                if start is not None:
                    done[start.idempotency_key] = event.result
        return done

    def unfinished_tools(self) -> list[ToolStarted]:
        """Tool calls that started and never recorded a result (the process died mid-call)."""
        finished = {(e.step, e.result.call_id) for e in self.events if isinstance(e, ToolFinished)}
        return [
            e
            for e in self.events
            if isinstance(e, ToolStarted) and (e.step, e.call.id) not in finished
        ]


class RunStore(Protocol):
    """Durable run records. Every method is durable when it returns."""

    async def create(self, info: RunInfo) -> None:
        """Record a new run; an existing id is a `RunStoreError`."""
        ...

    async def append(
        self, run_id: str, events: Sequence[ModelCalled | ToolStarted | ToolFinished]
    ) -> None:
        """Add events to a run, in order."""
        ...

    async def update(self, info: RunInfo) -> None:
        """Replace a run's info (status, totals, output)."""
        ...

    async def load(self, run_id: str) -> RunRecord:
        """A run and all its events; `RunNotFoundError` if there is none."""
        ...

    async def list(self, *, limit: int = 50, status: RunStatus | None = None) -> list[RunInfo]:
        """The newest runs first."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
