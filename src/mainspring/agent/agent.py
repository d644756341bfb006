"""`Agent`: a model, its tools, a budget, and optionally memory, a run store and an audit log."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, replace
from typing import Any

import anyio

from mainspring.agent.budget import Budget
from mainspring.agent.events import AgentEvent, RunFinished, RunResult
from mainspring.agent.journal import Journal
from mainspring.agent.loop import AgentLoop, AgentProtocol, LoopConfig, RunMemory
from mainspring.agent.toolbox import ExecutorToolbox, Toolbox
from mainspring.clock import Clock, MonotonicClock
from mainspring.errors import ConfigurationError
from mainspring.hooks import Hooks, Observers, RunScope, Sealer
from mainspring.messages import RunKind
from mainspring.models.base import Model, ModelSettings, ToolDefinition
from mainspring.models.deadline import DeadlineModel
from mainspring.models.observed import ObservedModel
from mainspring.models.registry import resolve_model
from mainspring.models.wrapper import WrapperModel, bind_model
from mainspring.runs.base import RunInfo, RunStore
from mainspring.tools.base import ANONYMOUS, Approver, Principal, Tool
from mainspring.tools.executor import ToolExecutor
from mainspring.tools.registry import ToolRegistry

AgentTools = Sequence[Tool] | ToolRegistry | ToolExecutor | Toolbox
"""What `Agent` takes as its tools: tools, a registry, a configured executor, or any `Toolbox`."""


_NO_BUDGET = Budget()
"""The default budget, shared: a `Budget` is immutable."""


def _toolbox(tools: AgentTools) -> Toolbox:
    if isinstance(tools, (list, tuple)):  # the common case, before the slower ABC checks
        return ExecutorToolbox(ToolExecutor(ToolRegistry(tools)))
    if isinstance(tools, ToolExecutor):
        return ExecutorToolbox(tools)
    if isinstance(tools, ToolRegistry):
        return ExecutorToolbox(ToolExecutor(tools))
    if isinstance(tools, Sequence):
        return ExecutorToolbox(ToolExecutor(ToolRegistry(tools)))
    return tools


class Agent:
    """An LLM agent held to a budget, its tool calls guarded, its runs optionally durable.

    Args:
        model: a `Model`, or a name such as `"local:smollm2"` or `"openai:gpt-4o-mini"`.
        tools: tools, a `ToolRegistry`, a ready `ToolExecutor` (with its guards and sinks), or
            any `Toolbox`.
        memory: remembers each answered task and supplies relevant context to new runs.
        budget: caps on iterations, tokens, dollars, seconds and tool calls.
        protocol: `"native"` tool calling, or `"react"` for models without it.
        instructions: the system prompt.
        run_store: records every step so `resume` can continue a crashed run.
        audit: receives one record per model call AND per tool call (an `AuditSink`), for
            every run of this agent and for every caller of `agent.model`.
        hooks: more subscribers of the hooks surface (telemetry, your own).
        sealer: keeps secret tool arguments encrypted in the run record (the operator's key),
            so a resumed run can still use them; without one they are stored as `***`.
        deps: handed to tools as `CallContext.deps` (credentials, clients): the model never
            sees them and no record holds them.
    """

    def __init__(
        self,
        model: Model | str,
        tools: AgentTools = (),
        *,
        memory: RunMemory | None = None,
        budget: Budget | None = None,
        protocol: AgentProtocol = "native",
        instructions: str | None = None,
        settings: ModelSettings | None = None,
        run_store: RunStore | None = None,
        audit: Hooks | None = None,
        hooks: Sequence[Hooks] = (),
        sealer: Sealer | None = None,
        deps: Any = None,
        principal: Principal = ANONYMOUS,
        approver: Approver | None = None,
        memory_tokens: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        if protocol not in ("native", "react"):
            raise ConfigurationError(f"protocol must be 'native' or 'react', got {protocol!r}")
        self.toolbox = _toolbox(tools)
        executor_hooks = (
            self.toolbox.executor.hooks if isinstance(self.toolbox, ExecutorToolbox) else ()
        )
        self.hooks: tuple[Hooks, ...] = (
            *([audit] if audit is not None else []),
            *hooks,
            *executor_hooks,
        )
        self.base_model = resolve_model(model)
        self._observers = Observers(self.hooks, secrets_of=self.toolbox.secrets_of, sealer=sealer)
        self.model: Model = ObservedModel(DeadlineModel(self.base_model), self._observers)
        """The model with every cross-cutting concern: give it to anything that calls the model
        for this agent (a planner, a memory summariser) and its calls are audited too."""
        self.run_store = run_store
        self.budget = budget or _NO_BUDGET
        self.principal = principal
        self.clock: Clock = clock or MonotonicClock()
        # What only the loop configuration needs, kept until the first run makes it.
        self._loop_options: dict[str, Any] = {
            "protocol": protocol,
            "instructions": instructions,
            "settings": settings,
            "approver": approver,
            "memory": memory,
            "memory_tokens": memory_tokens,
            "sealer": sealer,
            "deps": deps,
        }

    @functools.cached_property
    def config(self) -> LoopConfig:
        """What every run of this agent shares.

        Made at the first run, so an agent built per request pays for it only if it runs.
        """
        return LoopConfig(
            model=self.model,
            toolbox=self.toolbox,
            budget=self.budget,
            principal=self.principal,
            clock=self.clock,
            hooks=self.hooks,
            **self._loop_options,
        )

    @property
    def executor(self) -> ToolExecutor:
        """The executor behind the tools (`ConfigurationError` for a custom `Toolbox`)."""
        if isinstance(self.toolbox, ExecutorToolbox):
            return self.toolbox.executor
        raise ConfigurationError("this agent's tools are a custom Toolbox, not a ToolExecutor")

    async def tool_definitions(self) -> list[ToolDefinition]:
        """The tools this agent's principal may use now, as the model sees them."""
        return await self.toolbox.definitions(self.principal)

    def scope(self, run_id: str, *, remaining_seconds: Any = None) -> RunScope:
        """A scope for a run this agent takes part in (a plan uses it for its own calls)."""
        scope = RunScope(run_id=run_id, principal=self.principal.id, observers=self._observers)
        if remaining_seconds is not None:
            scope.remaining_seconds = remaining_seconds
        return scope

    def wrap(self, model: Model) -> Model:
        """`model` with this agent's concerns (observed: audited; deadline), unless it has them."""
        if isinstance(model, WrapperModel):
            return model
        return ObservedModel(DeadlineModel(model), self._observers)

    def bound_model(self, scope: RunScope, model: Model | None = None) -> Model:
        """`agent.model` (or `model`, wrapped) bound to a run: its id, step and deadline."""
        return bind_model(self.wrap(model) if model is not None else self.model, scope)

    def _info(self, task: str, run_id: str | None, kind: RunKind = "agent") -> RunInfo:
        cfg = self.config
        settings = {
            "protocol": cfg.protocol,
            "instructions": cfg.instructions,
            "budget": asdict(cfg.budget),
            "principal": cfg.principal.id,
        }
        return RunInfo(
            run_id=run_id or f"run_{uuid.uuid4().hex[:16]}",
            task=task,
            model=self.base_model.name,
            settings=settings,
            kind=kind,
        )

    def _config(self, budget: Budget | None) -> LoopConfig:
        return self.config if budget is None else replace(self.config, budget=budget)

    def _journal(self, task: str, run_id: str | None) -> Journal:
        return Journal(self.run_store, self._info(task, run_id), sealer=self.config.sealer)

    async def run_stream(
        self, task: str, *, run_id: str | None = None, budget: Budget | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Run the task, yielding typed events as they happen; the last is `RunFinished`."""
        loop = AgentLoop(self._config(budget), self._journal(task, run_id), stream=True)
        async for event in loop.events():
            yield event

    async def run(
        self, task: str, *, run_id: str | None = None, budget: Budget | None = None
    ) -> RunResult:
        """Run the task to an answer or a cap. Hitting a budget is a result, not an exception.

        `budget` overrides the agent's own for this run only. To plan the task first, run it
        through `mainspring.planning.PlanExecutor(agent)`.
        """
        loop = AgentLoop(self._config(budget), self._journal(task, run_id), events=False)
        return await _last(loop.events())

    def run_sync(self, task: str, *, run_id: str | None = None) -> RunResult:
        """`run` for code without an event loop. Not from inside a running loop."""
        try:
            anyio.get_current_task()
        except RuntimeError:
            return anyio.run(lambda: self.run(task, run_id=run_id))
        raise ConfigurationError(
            "run_sync() was called from inside a running event loop (an async function or a "
            "sync tool of a running agent); use `await agent.run(...)` there instead"
        )

    async def resume(self, run_id: str) -> RunResult:
        """Continue a recorded run: completed model and tool calls are taken from the record.

        An interrupted tool call (started, outcome unknown) runs again only if its tool is
        idempotent; otherwise the run stops with `needs_attention`. A plan run is resumed by
        `PlanExecutor(agent).resume(run_id)`.
        """
        if self.run_store is None:
            raise ConfigurationError("resume() needs the agent's run_store to read the run from")
        record = await self.run_store.load(run_id)
        info = record.info
        if info.kind == "plan":
            raise ConfigurationError(
                f"run {run_id!r} is a plan run: resume it with "
                "mainspring.planning.PlanExecutor(agent).resume(run_id)"
            )
        if info.status in ("completed", "cancelled"):
            return RunResult(
                info.output or "",
                stop_reason=info.stop_reason or "cancelled",
                run_id=run_id,
                steps=info.steps,
                tool_calls=info.tool_calls,
                usage=info.usage,
                error=info.note,
            )
        journal = Journal(self.run_store, info, record, sealer=self.config.sealer)
        loop = AgentLoop(self.config, journal, events=False)
        return await _last(loop.events(resumed=True))

    async def aclose(self) -> None:
        """Flush the executor's sinks."""
        if isinstance(self.toolbox, ExecutorToolbox):
            await self.toolbox.executor.aclose()


async def _last(events: AsyncIterator[AgentEvent]) -> RunResult:
    async for event in events:
        if isinstance(event, RunFinished):
            return event.result
    raise AssertionError("the agent loop ended without RunFinished")  # pragma: no cover
