"""`Agent`: a model, its tools, a budget, and optionally memory, a run store and an audit log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, replace
from typing import Literal

import anyio

from mainspring.agent.budget import Budget
from mainspring.agent.events import AgentEvent, RunFinished, RunResult
from mainspring.agent.journal import Journal
from mainspring.agent.loop import AgentLoop, AgentProtocol, LoopConfig, ModelAuditor, RunMemory
from mainspring.agent.toolbox import ExecutorToolbox, Toolbox
from mainspring.clock import Clock, MonotonicClock
from mainspring.errors import ConfigurationError
from mainspring.models.base import Model, ModelSettings
from mainspring.models.registry import resolve_model
from mainspring.runs.base import RunInfo, RunStore
from mainspring.tools.base import ANONYMOUS, Approver, Principal, Tool
from mainspring.tools.executor import ToolExecutor
from mainspring.tools.registry import ToolRegistry

Planning = Literal["never", "auto", "always"]
"""Whether a run is planned first: never, always, or when the model says the task needs it."""


class Agent:
    """An LLM agent held to a budget, its tool calls guarded, its runs optionally durable.

    Args:
        model: a `Model`, or a name such as `"local:smollm2"` or `"openai:gpt-4o-mini"`.
        tools: tools, a `ToolRegistry`, or a ready `ToolExecutor` (with its sinks and guards).
        memory: remembers each answered task and supplies relevant context to new runs.
        budget: caps on iterations, tokens, dollars, seconds and tool calls.
        protocol: `"native"` tool calling, or `"react"` for models without it.
        instructions: the system prompt.
        run_store: records every step so `resume` can continue a crashed run.
        audit: receives one record per model call (tool calls are audited by the executor's
            sinks; pass the same `AuditSink` there).
    """

    def __init__(
        self,
        model: Model | str,
        tools: Sequence[Tool] | ToolRegistry | ToolExecutor = (),
        *,
        memory: RunMemory | None = None,
        budget: Budget | None = None,
        protocol: AgentProtocol = "native",
        planning: Planning = "never",
        instructions: str | None = None,
        settings: ModelSettings | None = None,
        run_store: RunStore | None = None,
        audit: ModelAuditor | None = None,
        principal: Principal = ANONYMOUS,
        approver: Approver | None = None,
        memory_tokens: int = 1000,
        toolbox: Toolbox | None = None,
        clock: Clock | None = None,
    ) -> None:
        if protocol not in ("native", "react"):
            raise ConfigurationError(f"protocol must be 'native' or 'react', got {protocol!r}")
        if planning not in ("never", "auto", "always"):
            raise ConfigurationError(
                f"planning must be 'never', 'auto' or 'always', got {planning!r}"
            )
        self.planning: Planning = planning
        self.model = resolve_model(model)
        if isinstance(tools, ToolExecutor):
            self.executor = tools
        else:
            registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
            self.executor = ToolExecutor(registry)
        self.run_store = run_store
        self.config = LoopConfig(
            model=self.model,
            toolbox=toolbox or ExecutorToolbox(self.executor),
            budget=budget or Budget(),
            protocol=protocol,
            instructions=instructions,
            settings=settings,
            principal=principal,
            approver=approver,
            clock=clock or MonotonicClock(),
            memory=memory,
            memory_tokens=memory_tokens,
            auditor=audit,
        )

    def _info(self, task: str, run_id: str | None) -> RunInfo:
        cfg = self.config
        settings = {
            "protocol": cfg.protocol,
            "instructions": cfg.instructions,
            "budget": asdict(cfg.budget),
            "tools": sorted(t.name for t in self.executor.registry),
            "principal": cfg.principal.id,
        }
        return RunInfo(
            run_id=run_id or f"run_{uuid.uuid4().hex[:16]}",
            task=task,
            model=self.model.name,
            settings=settings,
        )

    def _config(self, budget: Budget | None) -> LoopConfig:
        return self.config if budget is None else replace(self.config, budget=budget)

    async def run_stream(
        self, task: str, *, run_id: str | None = None, budget: Budget | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Run the task, yielding typed events as they happen; the last is `RunFinished`."""
        journal = Journal(self.run_store, self._info(task, run_id))
        async for event in AgentLoop(self._config(budget), journal, stream=True).events():
            yield event

    async def run(
        self,
        task: str,
        *,
        run_id: str | None = None,
        budget: Budget | None = None,
        planning: Planning | None = None,
    ) -> RunResult:
        """Run the task to an answer or a cap. Hitting a budget is a result, not an exception.

        `budget` and `planning` override the agent's own for this run only. With planning
        "always", the task is planned and run step by step (`mainspring.planning`); with "auto",
        one cheap model call first decides whether it needs a plan.
        """
        mode = planning or self.planning
        if mode != "never":
            from mainspring.agent._planned import run_planned

            return await run_planned(self, task, budget=budget, auto=mode == "auto")
        journal = Journal(self.run_store, self._info(task, run_id))
        return await _last(AgentLoop(self._config(budget), journal).events())

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
        idempotent; otherwise the run stops with `needs_attention`.
        """
        if self.run_store is None:
            raise ConfigurationError("resume() needs the agent's run_store to read the run from")
        record = await self.run_store.load(run_id)
        info = record.info
        if info.settings.get("kind") == "plan":
            from mainspring.agent._planned import resume_planned

            return await resume_planned(self, run_id)
        if info.status in ("completed", "cancelled"):
            return RunResult(
                info.output or "",
                stop_reason=info.stop_reason or "cancelled",  # type: ignore[arg-type]
                run_id=run_id,
                steps=info.steps,
                tool_calls=info.tool_calls,
                usage=info.usage,
                error=info.note,
            )
        journal = Journal(self.run_store, info, record)
        return await _last(AgentLoop(self.config, journal).events(resumed=True))

    async def aclose(self) -> None:
        """Flush the executor's sinks."""
        await self.executor.aclose()


async def _last(events: AsyncIterator[AgentEvent]) -> RunResult:
    async for event in events:
        if isinstance(event, RunFinished):
            return event.result
    raise AssertionError("the agent loop ended without RunFinished")  # pragma: no cover
