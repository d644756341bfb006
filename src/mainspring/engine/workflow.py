"""The DBOS workflow that is one run: start it, or continue it after a worker died.

The division of labour: DBOS keeps the workflow (queued, pending on which executor, finished
with which outcome) and hands each to exactly one worker; the run journal in the same
PostgreSQL keeps every model call and tool call of the run, written before each side effect and
keyed by its idempotency key. A workflow recovered on another worker therefore calls
`Agent.resume`, which takes every finished model reply and tool result from the journal and
runs nothing twice; a non-idempotent call that was in flight stops the run with
`needs_attention`, as on one machine.

The calls are not DBOS steps as well: a second record of the same fact would have to agree with
the journal at every crash point, and DBOS matches steps by their order, which a resumed loop
(skipping what the journal has) does not keep.

DBOS is one instance per process, so the agent a worker runs is process state here: `serve`
installs it before the worker launches DBOS.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypedDict

import anyio

from mainspring.agent import Agent, RunResult
from mainspring.clock import utc_now
from mainspring.engine.base import WORKFLOW_NAME, until_cancelled
from mainspring.errors import EngineError, MissingExtraError, RunNotFoundError
from mainspring.messages import status_for
from mainspring.runs import RunInfo, RunStore

try:
    from dbos import DBOS
    from dbos._dbos import _get_dbos_instance
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("the durable engine", "engine") from exc


class RunOutcome(TypedDict):
    """What a finished workflow returns (and DBOS keeps)."""

    run_id: str
    status: str
    stop_reason: str | None
    output: str
    steps: int
    tool_calls: int
    executor_id: str


_FINISHED = frozenset({"completed", "cancelled", "failed", "needs_attention"})


class _Installed:
    agent: Agent | None = None


def install_agent(agent: Agent) -> None:
    """The agent this process's workflows run (its `run_store` must be the shared one)."""
    if agent.run_store is None:
        raise EngineError("an engine worker's agent needs a run_store (the shared PostgreSQL)")
    _Installed.agent = agent


def installed_agent() -> Agent:
    """The agent `install_agent` set; an error when a workflow runs before it was set."""
    if _Installed.agent is None:
        raise EngineError("no agent installed in this worker: call install_agent() first")
    return _Installed.agent


def _from_result(result: RunResult, status: str) -> RunOutcome:
    return RunOutcome(
        run_id=result.run_id,
        status=status,
        stop_reason=result.stop_reason,
        output=result.output,
        steps=result.steps,
        tool_calls=result.tool_calls,
        executor_id=DBOS.executor_id,
    )


def _from_info(info: RunInfo) -> RunOutcome:
    return RunOutcome(
        run_id=info.run_id,
        status=info.status,
        stop_reason=info.stop_reason,
        output=info.output or "",
        steps=info.steps,
        tool_calls=info.tool_calls,
        executor_id=DBOS.executor_id,
    )


async def run_or_resume(agent: Agent, run_id: str, task: str) -> RunOutcome:
    """Start the run, or continue it from its journal when an earlier attempt began it."""
    store = agent.run_store
    assert store is not None  # install_agent checked it
    try:
        record = await store.load(run_id)
    except RunNotFoundError:
        result = await agent.run(task, run_id=run_id)
    else:
        if record.info.status in _FINISHED:
            return _from_info(record.info)
        result = await agent.resume(run_id)
    # The status the loop recorded, from its stop reason: no second read of the whole record.
    return _from_result(result, status_for(result.stop_reason))


async def mark_cancelled(store: RunStore, run_id: str) -> RunInfo | None:
    """Record a stopped run as cancelled (its loop recorded `interrupted` when it stopped)."""
    try:
        info = (await store.load(run_id)).info
    except RunNotFoundError:
        return None  # cancelled before its first step was recorded
    info = replace(info, status="cancelled", stop_reason="cancelled", updated_at=utc_now())
    await store.update(info)
    return info


def _status_now(run_id: str) -> str | None:
    # Not DBOS.get_workflow_status: inside a workflow that records every call as a step.
    found = _get_dbos_instance()._sys_db.get_workflow_status(run_id)
    return None if found is None else str(found["status"])


async def _engine_cancelled(run_id: str) -> bool:
    return await anyio.to_thread.run_sync(_status_now, run_id) == "CANCELLED"


@DBOS.workflow(name=WORKFLOW_NAME)
async def run_workflow(run_id: str, task: str) -> Any:
    """One run, durable across workers (see the module docstring); stops when cancelled."""
    agent = installed_agent()
    outcome = await until_cancelled(
        lambda: run_or_resume(agent, run_id, task), lambda: _engine_cancelled(run_id)
    )
    if outcome is not None:
        return outcome
    assert agent.run_store is not None  # install_agent checked it
    info = await mark_cancelled(agent.run_store, run_id)
    return _from_info(info) if info is not None else None
