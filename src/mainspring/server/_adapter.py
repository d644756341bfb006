"""Everything the service needs from the agent library, in one place.

The service consumes the public surface only: `Agent`, `Agent.run_stream`, `Agent.resume`,
the `Toolbox` protocol, `AuditSink` and the tool executor's event sinks. When the observation
surface (hooks) changes shape, this module is the one to adapt.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict
from typing import Any

from pydantic_core import to_jsonable_python

from mainspring.agent import (
    Agent,
    AgentEvent,
    Budget,
    BudgetStop,
    ExecutorToolbox,
    FinalAnswer,
    ModelRequestStarted,
    ModelResponded,
    RunFinished,
    RunResult,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from mainspring.errors import ToolNotFoundError
from mainspring.hooks import Hooks, Sealer
from mainspring.messages import ToolCall, ToolError, ToolResult
from mainspring.models.base import Model, ToolDefinition
from mainspring.runs.base import RunStore
from mainspring.tools.base import Approver, CallContext, Principal, Tool
from mainspring.tools.executor import ToolExecutor

_EVENT_TYPES: dict[type[Any], str] = {
    RunStarted: "run_started",
    ModelRequestStarted: "model_request_started",
    TextDelta: "text_delta",
    ModelResponded: "model_responded",
    ToolCallStarted: "tool_call_started",
    ToolCallFinished: "tool_call_finished",
    FinalAnswer: "final_answer",
    BudgetStop: "budget_stop",
    RunFinished: "run_finished",
}


def result_json(result: RunResult) -> dict[str, Any]:
    """A run's outcome as JSON, without the whole conversation."""
    usage = result.usage
    return {
        "output": result.output,
        "stop_reason": result.stop_reason,
        "steps": result.steps,
        "tool_calls": result.tool_calls,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd,
        },
        "error": result.error,
    }


def _redacted(call: dict[str, Any], tools: Mapping[str, Tool]) -> dict[str, Any]:
    tool = tools.get(call["name"])
    if tool is None or not tool.policy.secrets:
        return call
    arguments = call["arguments"]
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return {**call, "arguments": "<unparsable arguments withheld: the tool has secrets>"}
    if not isinstance(arguments, dict):
        return {**call, "arguments": "<withheld>"}
    return {**call, "arguments": tool.redact(arguments)}


def event_json(event: AgentEvent, tools: Mapping[str, Tool]) -> tuple[str, dict[str, Any]]:
    """(type, data) of one typed run event, secret tool arguments redacted, as streamed."""
    kind = _EVENT_TYPES[type(event)]
    if isinstance(event, RunFinished):
        return kind, result_json(event.result)
    data: dict[str, Any] = to_jsonable_python(asdict(event), fallback=repr)
    if isinstance(event, ToolCallStarted):
        data["call"] = _redacted(data["call"], tools)
    elif isinstance(event, ModelResponded):
        message = data["response"]["message"]
        message["tool_calls"] = [_redacted(c, tools) for c in message["tool_calls"]]
    return kind, data


def model_call_facts(event: ModelResponded) -> tuple[int, int, float]:
    """(input tokens, output tokens, cost) of a model call, for the metrics."""
    usage = event.response.usage
    return usage.input_tokens, usage.output_tokens, usage.cost_usd


class RunToolbox:
    """The tenant's tools, narrowed to what one run asked for.

    `known_not_run` names tools whose interrupted call is known never to have started its side
    effect (it was still waiting for a human decision when the process stopped), so a resumed
    run may ask again instead of stopping with `needs_attention`.
    """

    def __init__(
        self,
        executor: ToolExecutor,
        allowed: Collection[str],
        known_not_run: Collection[str] = (),
    ) -> None:
        self._inner = ExecutorToolbox(executor)
        self._allowed = frozenset(allowed)
        self._known_not_run = frozenset(known_not_run)
        self.max_concurrency = self._inner.max_concurrency

    async def definitions(self, principal: Principal) -> list[ToolDefinition]:
        """The run's tools the principal may use right now."""
        return [d for d in await self._inner.definitions(principal) if d.name in self._allowed]

    def idempotent(self, name: str) -> bool:
        """The tool's own declaration, or True for a call known never to have run."""
        return name in self._known_not_run or self._inner.idempotent(name)

    def secrets_of(self, name: str) -> frozenset[str]:
        """The tool's secret parameters: redacted in every record of the run."""
        return self._inner.secrets_of(name)

    async def execute(self, call: ToolCall, ctx: CallContext) -> ToolResult:
        """Run a call of one of the run's tools; any other name is `not_found`."""
        if call.name not in self._allowed:
            message = str(
                ToolNotFoundError(
                    f"no tool named {call.name!r} in this run; available: "
                    + (", ".join(sorted(self._allowed)) or "none")
                )
            )
            error = ToolError("not_found", message)
            return ToolResult(call.id, False, message, error=error, tool=call.name)
        return await self._inner.execute(call, ctx)


def build_agent(
    *,
    model: Model,
    executor: ToolExecutor,
    toolbox: RunToolbox,
    run_store: RunStore,
    audit: Hooks,
    principal: Principal,
    approver: Approver,
    budget: Budget,
    instructions: str | None,
    sealer: Sealer | None = None,
) -> Agent:
    """The agent of one run (cheap to build: the tenant's executor and the store are shared)."""
    # The run's tools are the toolbox (the run's allowed subset of the tenant's executor); the
    # executor's own subscribers (its sinks, the metrics) observe the run's tool calls too.
    return Agent(
        model,
        toolbox,
        budget=budget,
        instructions=instructions,
        run_store=run_store,
        audit=audit,
        hooks=executor.hooks,
        principal=principal,
        approver=approver,
        sealer=sealer,
    )
