"""Runs of the service: accepted, executed in the background, persisted, cancelled, resumed.

The service's `runs` table is the tenant's view (status, totals); the `RunStore` keeps the
step-by-step record that `Agent.resume` continues from after a crash or a restart.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from mainspring.agent import Agent, Budget, ModelRequestStarted, ModelResponded, RunFinished
from mainspring.engine.base import until_cancelled
from mainspring.errors import EngineError, RunNotFoundError
from mainspring.hooks import Hooks, Sealer
from mainspring.models.base import Model
from mainspring.runs.base import RunStore, utc_now
from mainspring.server import _adapter
from mainspring.server._db import Row, ServiceDatabase
from mainspring.server.approvals import Approval, ApprovalBook, DurableApprover
from mainspring.server.events import EventLog
from mainspring.server.keys import Caller
from mainspring.server.metrics import ServiceMetrics
from mainspring.server.problems import Problem, not_found
from mainspring.server.schemas import BudgetRequest, RunRequest
from mainspring.server.settings import ServerSettings
from mainspring.server.tenants import ACTIVE_STATUSES, QuotaExceeded, Quotas, TenantTools
from mainspring.tools.base import Principal

logger = logging.getLogger("mainspring.server")
ENGINE_OWNER = "engine"
"""The `owner` of a run the engine's workers execute: no replica's lease keeper takes it."""
TERMINAL_STATUSES = ("completed", "failed", "cancelled", "needs_attention")
_STATUS_OF_STOP = {"final_answer": "completed", "needs_attention": "needs_attention"}
_STATUS_OF_STOP |= {"error": "failed", "cancelled": "cancelled"}


class Dispatcher(Protocol):
    """Where runs go when the service does not execute them itself (the engine's workers)."""

    async def submit(self, run_id: str, tenant: str, *, resume: bool) -> None:
        """Queue the run (its row is written) for a worker; `resume` continues its record."""
        ...

    async def cancel(self, run_id: str) -> None:
        """Take the run off the queue, or tell its worker to stop it."""
        ...

    def close(self) -> None:
        """Release its connections."""
        ...


@dataclass(frozen=True, slots=True)
class RunParams:
    """What a run was asked to do, stored so a restarted server can continue it identically."""

    task: str
    model: str
    tools: tuple[str, ...]
    budget: dict[str, Any]
    instructions: str | None
    principal: str
    scopes: tuple[str, ...]

    @classmethod
    def from_json(cls, text: str) -> RunParams:
        """Read the stored request."""
        data = json.loads(text)
        return cls(**{**data, "tools": tuple(data["tools"]), "scopes": tuple(data["scopes"])})


def run_view(row: Row) -> dict[str, Any]:
    """The API's view of one run."""
    params = RunParams.from_json(row["request"])
    return {
        "id": row["id"],
        "status": row["status"],
        "task": params.task,
        "model": params.model,
        "tools": list(params.tools),
        "output": row["output"],
        "stop_reason": row["stop_reason"],
        "error": row["error"],
        "steps": row["steps"],
        "tool_calls": row["tool_calls"],
        "usage": {
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "cost_usd": row["cost_usd"],
        },
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


@dataclass(kw_only=True)
class RunService:
    """Accepts runs for tenants and executes them in the app's task group."""

    settings: ServerSettings
    db: ServiceDatabase
    events: EventLog
    approvals: ApprovalBook
    tenants: TenantTools
    quotas: Quotas
    run_store: RunStore
    audit: Hooks
    models: Mapping[str, Model]
    metrics: ServiceMetrics
    sealer: Sealer | None = None
    """Keeps secret tool arguments encrypted in run records, for resume after a restart."""
    instance: str
    """This replica's name in run leases."""
    dispatcher: Dispatcher | None = None
    """Set: runs are queued for the engine's workers (`mainspring worker --service`), which
    execute them with `execute_here`; this process only accepts, reads and cancels them."""
    _group: TaskGroup | None = None
    _scopes: dict[str, anyio.CancelScope] = field(default_factory=dict[str, anyio.CancelScope])
    _admit: anyio.Lock = field(default_factory=anyio.Lock)

    def attach(self, group: TaskGroup) -> None:
        """Run in `group` from now on (the app's lifespan owns it)."""
        self._group = group

    # --- accepting -------------------------------------------------------------------------

    async def create(self, caller: Caller, request: RunRequest) -> dict[str, Any]:
        """Validate, check quotas, record as queued, start in the background."""
        params, budget_left = self._params(caller, request), None
        async with self._admit:  # the count-then-insert of the concurrency quota is one step
            try:
                budget_left = await self.quotas.check_new_run(caller.tenant)
            except QuotaExceeded as exc:
                raise Problem(429, exc.message, retry_after=exc.retry_after) from None
            budget = self._budget(request.budget, *budget_left)
            params = replace(params, budget=_budget_json(budget))
            run_id = f"run_{secrets.token_hex(8)}"
            owner = None if self.dispatcher is None else ENGINE_OWNER
            if owner is None:  # reserved before the row exists: the lease keeper skips it
                self._scopes[run_id] = anyio.CancelScope()
            try:
                await self._insert(caller, run_id, params, utc_now(), owner=owner)
            except BaseException:
                self._scopes.pop(run_id, None)
                raise
        if self.dispatcher is not None:
            await self._dispatch(run_id, caller.tenant, resume=False)
            return {"id": run_id, "status": "queued"}
        self.metrics.queue_depth.inc()
        self._spawn(run_id, caller.tenant, params, resume=False)
        return {"id": run_id, "status": "queued"}

    async def _dispatch(self, run_id: str, tenant: str, *, resume: bool) -> None:
        assert self.dispatcher is not None
        try:
            await self.dispatcher.submit(run_id, tenant, resume=resume)
        except EngineError as exc:
            logger.error("run %s could not be queued: %s", run_id, exc)
            error = f"the engine's queue is unreachable: {exc}"
            await self._finished(run_id, {"stop_reason": "error", "error": error}, "failed")
            raise Problem(503, "runs cannot be queued right now; try again shortly") from None

    async def _insert(
        self, caller: Caller, run_id: str, params: RunParams, now: str, *, owner: str | None = None
    ) -> None:
        await self.db.execute(
            "INSERT INTO runs (id, tenant, key_id, status, request, created_at, updated_at, "
            "owner, heartbeat) VALUES (?,?,?,'queued',?,?,?,?,?)",
            (
                run_id,
                caller.tenant,
                caller.key_id,
                _params_json(params),
                now,
                now,
                owner or self.instance,
                time.time(),
            ),
        )

    def _params(self, caller: Caller, request: RunRequest) -> RunParams:
        s = self.settings
        if len(request.task) > s.max_task_chars:
            raise Problem(
                422,
                f"task is {len(request.task)} characters; this server accepts at most "
                f"{s.max_task_chars}: shorten it",
            )
        model = request.model or s.model
        if model not in self.models:
            raise Problem(
                422, f"model {model!r} is not allowed here; allowed: {', '.join(self.models)}"
            )
        principal = caller.principal
        usable = [t.name for t in self.tenants.tools if principal.may_use(t.policy.scopes)]
        tools = usable if request.tools is None else list(dict.fromkeys(request.tools))
        refused = sorted(set(tools) - set(usable))
        if refused:
            raise Problem(
                422,
                f"tool(s) {refused} are unknown or not permitted for this key; "
                f"this key may use: {', '.join(sorted(usable)) or 'none'}",
            )
        return RunParams(
            task=request.task,
            model=model,
            tools=tuple(tools),
            budget={},
            instructions=request.instructions,
            principal=principal.id,
            scopes=tuple(sorted(principal.scopes)),
        )

    def _budget(
        self, asked: BudgetRequest | None, tokens_left: int | None, usd_left: float | None
    ) -> Budget:
        s = self.settings
        caps: dict[str, float | int | None] = {
            "max_iterations": s.run_max_iterations,
            "max_seconds": s.run_max_seconds,
            "max_tokens": tokens_left,
            "max_cost_usd": usd_left,
            "max_tool_calls": None,
        }
        for name, value in (asked.model_dump(exclude_none=True) if asked else {}).items():
            cap = caps[name]
            if cap is not None and value > cap:
                raise Problem(
                    422,
                    f"budget.{name} = {value} is above this tenant's limit of {cap}; "
                    "a request's budget may only lower the limits",
                )
            caps[name] = value
        return Budget(**caps)  # type: ignore[arg-type]

    # --- reading ---------------------------------------------------------------------------

    async def row(self, tenant: str, run_id: str) -> Row:
        """The tenant's run, or 404."""
        found = await self.db.fetchone(
            "SELECT * FROM runs WHERE tenant = ? AND id = ?", (tenant, run_id)
        )
        if found is None:
            raise not_found("run", run_id)
        return found

    async def list(
        self, tenant: str, *, limit: int, cursor: str | None, status: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the tenant's runs, newest first, and the cursor of the next page."""
        position = self.db.position
        sql = f"SELECT {position} AS pos, * FROM runs WHERE tenant = ?"
        params: list[str | int] = [tenant]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if cursor is not None:
            # The cursor is the insertion position: unlike timestamps it never ties.
            if not cursor.isdigit():
                raise Problem(422, "cursor must be the next_cursor of a previous page")
            sql += f" AND {position} < ?"
            params.append(int(cursor))
        rows = await self.db.fetchall(
            f"{sql} ORDER BY {position} DESC LIMIT ?", [*params, limit + 1]
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = str(rows[-1]["pos"]) if more else None
        return [run_view(r) for r in rows], next_cursor

    # --- changing --------------------------------------------------------------------------

    async def cancel(self, tenant: str, run_id: str) -> dict[str, Any]:
        """Stop a queued, running or waiting run."""
        await self.row(tenant, run_id)
        changed = await self.db.execute(
            "UPDATE runs SET status = 'cancelled', stop_reason = 'cancelled', updated_at = ? "
            f"WHERE id = ? AND status IN ({_marks(ACTIVE_STATUSES)})",
            (utc_now(), run_id, *ACTIVE_STATUSES),
        )
        if not changed:
            status = (await self.row(tenant, run_id))["status"]
            raise Problem(409, f"run {run_id!r} is already {status}; only active runs cancel")
        scope = self._scopes.pop(run_id, None)
        if scope is not None:
            scope.cancel()
        if self.dispatcher is not None:
            try:
                await self.dispatcher.cancel(run_id)
            except EngineError as exc:  # its worker still stops it: it watches the row
                logger.warning("run %s: the engine did not take the cancel: %s", run_id, exc)
        await self.approvals.cancel_run(run_id)
        await self._mark_store_cancelled(run_id)
        await self.events.append(run_id, "run_cancelled", {"status": "cancelled"})
        self.metrics.runs.labels("cancelled").inc()
        return run_view(await self.row(tenant, run_id))

    async def _mark_store_cancelled(self, run_id: str) -> None:
        try:
            record = await self.run_store.load(run_id)
        except RunNotFoundError:
            return  # cancelled before its first step was recorded
        info = replace(record.info, status="cancelled", stop_reason="cancelled")
        await self.run_store.update(replace(info, updated_at=utc_now()))

    async def resume(self, tenant: str, run_id: str) -> dict[str, Any]:
        """Continue a failed or needs-attention run from its record."""
        row = await self.row(tenant, run_id)
        if row["status"] not in ("failed", "needs_attention"):
            raise Problem(
                409,
                f"run {run_id!r} is {row['status']}; only failed or needs_attention runs resume",
            )
        if self.dispatcher is None:
            self._scopes.setdefault(run_id, anyio.CancelScope())  # see create()
        owner = self.instance if self.dispatcher is None else ENGINE_OWNER
        try:
            changed = await self.db.execute(
                "UPDATE runs SET status = 'queued', updated_at = ?, owner = ?, heartbeat = ? "
                "WHERE id = ? AND status = ?",
                (utc_now(), owner, time.time(), run_id, row["status"]),
            )
        except BaseException:
            self._scopes.pop(run_id, None)
            raise
        if not changed:
            self._scopes.pop(run_id, None)
            raise Problem(409, f"run {run_id!r} changed meanwhile; read it and try again")
        if self.dispatcher is not None:
            await self._dispatch(run_id, tenant, resume=True)
            return {"id": run_id, "status": "queued"}
        self._spawn(run_id, tenant, RunParams.from_json(row["request"]), resume=True)
        return {"id": run_id, "status": "queued"}

    async def recover(self) -> int:
        """Continue the active runs that are ours (after a restart) or whose lease lapsed.

        Each is claimed with a conditional update first, so two replicas never both take one.
        """
        now = time.time()
        stale = now - self.settings.lease_seconds
        active = _marks(ACTIVE_STATUSES)
        rows = await self.db.fetchall(
            f"SELECT * FROM runs WHERE status IN ({active}) AND COALESCE(owner, '') <> ? "
            "AND (owner IS NULL OR owner = ? OR heartbeat < ?) ORDER BY created_at",
            (*ACTIVE_STATUSES, ENGINE_OWNER, self.instance, stale),
        )
        taken = 0
        for row in rows:
            if row["id"] in self._scopes:
                continue  # running here already
            claimed = await self.db.execute(
                f"UPDATE runs SET owner = ?, heartbeat = ? WHERE id = ? AND status IN ({active}) "
                "AND (owner IS NULL OR owner = ? OR heartbeat < ?)",
                (self.instance, now, row["id"], *ACTIVE_STATUSES, self.instance, stale),
            )
            if not claimed:
                continue
            queued = row["status"] == "queued"
            if queued:
                self.metrics.queue_depth.inc()  # it leaves the queue when it starts
            self._spawn(
                row["id"], row["tenant"], RunParams.from_json(row["request"]), resume=not queued
            )
            taken += 1
        return taken

    async def keep_leases(self) -> None:
        """Forever: renew the leases of this replica's runs, and take over lapsed ones."""
        while True:
            await anyio.sleep(self.settings.lease_seconds / 3)
            await self.db.execute(
                f"UPDATE runs SET heartbeat = ? WHERE owner = ? "
                f"AND status IN ({_marks(ACTIVE_STATUSES)})",
                (time.time(), self.instance, *ACTIVE_STATUSES),
            )
            await self._stop_cancelled_elsewhere()
            await self.recover()

    async def _stop_cancelled_elsewhere(self) -> None:
        """A cancel that reached another replica stops the run here too."""
        local = tuple(self._scopes)
        if not local:
            return
        rows = await self.db.fetchall(
            f"SELECT id FROM runs WHERE status = 'cancelled' AND id IN ({_marks(local)})", local
        )
        for row in rows:
            scope = self._scopes.pop(row["id"], None)
            if scope is not None:
                scope.cancel()

    # --- executing -------------------------------------------------------------------------

    async def execute_here(self, run_id: str, tenant: str, *, resume: bool) -> str:
        """Execute a queued run in this process (an engine worker); returns its final status.

        The row written by the service that accepted it is the source of truth: the tenant the
        submission carries must be the row's, or nothing runs. A cancel made on any replica
        marks the row; this process polls it and stops the run.
        """
        row = await self.db.fetchone("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None or row["tenant"] != tenant:
            logger.error("refused run %s: no such run for tenant %r", run_id, tenant)
            return "refused"
        params = RunParams.from_json(row["request"])
        resume = resume or row["status"] != "queued"  # re-run after its worker died
        scope = self._scopes.setdefault(run_id, anyio.CancelScope())

        async def cancelled() -> bool:
            found = await self.db.fetchone("SELECT status FROM runs WHERE id = ?", (run_id,))
            return found is None or found["status"] == "cancelled"

        async def work() -> bool:
            await self._execute(run_id, tenant, params, resume, scope)
            return True

        if await until_cancelled(work, cancelled) is None:
            scope.cancel()
            await self._mark_store_cancelled(run_id)  # over the `interrupted` the loop wrote
        final = await self.db.fetchone("SELECT status FROM runs WHERE id = ?", (run_id,))
        return str(final["status"]) if final is not None else "missing"

    def _spawn(self, run_id: str, tenant: str, params: RunParams, *, resume: bool) -> None:
        if self._group is None:
            raise RuntimeError("the run service is not attached to a running app")
        # A reservation made before the row was written is taken over, not replaced.
        scope = self._scopes.setdefault(run_id, anyio.CancelScope())
        self._group.start_soon(self._execute, run_id, tenant, params, resume, scope)

    async def _agent(self, run_id: str, tenant: str, params: RunParams, resume: bool) -> Agent:
        known_not_run = await self.approvals.pending_tools(run_id) if resume else set()
        executor = self.tenants.executor(tenant)

        async def waiting(approval: Approval) -> None:
            await self._set_status(run_id, "awaiting_approval")
            self.metrics.awaiting_approval.inc()
            await self.events.append(run_id, "approval_requested", approval.to_json())

        async def decided(approval: Approval) -> None:
            self.metrics.awaiting_approval.dec()
            await self._set_status(run_id, "running")
            await self.events.append(run_id, "approval_decided", approval.to_json())

        return _adapter.build_agent(
            model=self.models[params.model],
            executor=executor,
            toolbox=_adapter.RunToolbox(executor, params.tools, known_not_run),
            run_store=self.run_store,
            audit=self.audit,
            principal=Principal(params.principal, frozenset(params.scopes)),
            approver=DurableApprover(self.approvals, tenant, waiting=waiting, decided=decided),
            budget=Budget(**params.budget),
            instructions=params.instructions,
            sealer=self.sealer,
        )

    async def _execute(
        self,
        run_id: str,
        tenant: str,
        params: RunParams,
        resume: bool,
        scope: anyio.CancelScope,
    ) -> None:
        self.metrics.runs_active.inc()
        if not resume:
            self.metrics.queue_depth.dec()
        try:
            with scope:
                if not await self._set_status(run_id, "running"):
                    return  # cancelled while queued
                # A recorded run continues from its record (a restart, or a resume request that
                # a restart interrupted); one that never started runs from the beginning.
                recorded = await self._has_record(run_id)
                agent = await self._agent(run_id, tenant, params, recorded)
                if recorded:
                    await self.events.append(run_id, "run_resumed", {})
                    result = _adapter.result_json(await agent.resume(run_id))
                    await self.events.append(run_id, "run_finished", result)
                else:
                    result = await self._stream(agent, run_id, params)
                await self._finished(run_id, result)
        except Exception as exc:  # a bug or a store failure: the run fails visibly, not silently
            logger.exception("run %s failed", run_id)
            error = f"the server failed while running this run: {type(exc).__name__}: {exc}"
            # The event first: a stream that reads the final status has every event before it.
            await self.events.append(run_id, "run_error", {"error": error})
            await self._finished(run_id, {"stop_reason": "error", "error": error}, "failed")
        finally:
            self.metrics.runs_active.dec()
            self._scopes.pop(run_id, None)
            self.events.forget(run_id)

    async def _has_record(self, run_id: str) -> bool:
        try:
            await self.run_store.load(run_id)
        except RunNotFoundError:
            return False
        return True

    async def _stream(self, agent: Agent, run_id: str, params: RunParams) -> dict[str, Any]:
        """Run through `run_stream`, storing every event; returns the outcome."""
        budget = Budget(**params.budget)
        tools = {t.name: t for t in self.tenants.tools}
        outcome: dict[str, Any] = {}
        asked = time.perf_counter()
        async for event in agent.run_stream(params.task, run_id=run_id, budget=budget):
            kind, data = _adapter.event_json(event, tools)
            await self.events.append(run_id, kind, data)
            if isinstance(event, ModelRequestStarted):
                asked = time.perf_counter()
            elif isinstance(event, ModelResponded) and not event.replayed:
                tokens_in, tokens_out, cost = _adapter.model_call_facts(event)
                elapsed = time.perf_counter() - asked
                self.metrics.model_call(params.model, elapsed, tokens_in, tokens_out, cost)
                await self._progress(run_id, event.step, tokens_in, tokens_out, cost)
            elif isinstance(event, RunFinished):
                outcome = data
        return outcome

    async def _progress(
        self, run_id: str, step: int, tokens_in: int, tokens_out: int, cost: float
    ) -> None:
        await self.db.execute(
            "UPDATE runs SET steps = ?, input_tokens = input_tokens + ?, "
            "output_tokens = output_tokens + ?, cost_usd = cost_usd + ?, updated_at = ? "
            "WHERE id = ?",
            (step, tokens_in, tokens_out, cost, utc_now(), run_id),
        )

    async def _set_status(self, run_id: str, status: str) -> bool:
        """Move an active run to `status`; False when it is no longer active (cancelled)."""
        changed = await self.db.execute(
            f"UPDATE runs SET status = ?, updated_at = ? WHERE id = ? "
            f"AND status IN ({_marks(ACTIVE_STATUSES)})",
            (status, utc_now(), run_id, *ACTIVE_STATUSES),
        )
        return changed > 0

    async def _finished(
        self, run_id: str, result: Mapping[str, Any], status: str | None = None
    ) -> None:
        stop = result.get("stop_reason") or "error"
        final = status or _STATUS_OF_STOP.get(stop, "completed")
        usage = result.get("usage") or {}
        changed = await self.db.execute(
            "UPDATE runs SET status = ?, output = ?, stop_reason = ?, error = ?, steps = ?, "
            "tool_calls = ?, input_tokens = COALESCE(?, input_tokens), "
            "output_tokens = COALESCE(?, output_tokens), cost_usd = COALESCE(?, cost_usd), "
            f"updated_at = ? WHERE id = ? AND status IN ({_marks(ACTIVE_STATUSES)})",
            (
                final,
                result.get("output"),
                stop,
                result.get("error"),
                result.get("steps", 0),
                result.get("tool_calls", 0),
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                usage.get("cost_usd"),
                utc_now(),
                run_id,
                *ACTIVE_STATUSES,
            ),
        )
        if changed:
            self.metrics.runs.labels(final).inc()
            self.events.notify(run_id)  # streams close once they see the final status


def _marks(values: tuple[str, ...]) -> str:
    return ",".join("?" * len(values))


def _budget_json(budget: Budget) -> dict[str, Any]:
    return {
        "max_iterations": budget.max_iterations,
        "max_tokens": budget.max_tokens,
        "max_cost_usd": budget.max_cost_usd,
        "max_seconds": budget.max_seconds,
        "max_tool_calls": budget.max_tool_calls,
    }


def _params_json(params: RunParams) -> str:
    return json.dumps(
        {
            "task": params.task,
            "model": params.model,
            "tools": list(params.tools),
            "budget": params.budget,
            "instructions": params.instructions,
            "principal": params.principal,
            "scopes": list(params.scopes),
        }
    )
