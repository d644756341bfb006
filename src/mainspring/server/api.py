"""The JSON API under /v1, plus health, readiness and metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from mainspring.audit import verify_log
from mainspring.server.approvals import ApprovalClosedError, ApprovalNotFoundError
from mainspring.server.problems import Problem, not_found
from mainspring.server.runs import run_view
from mainspring.server.schemas import DecisionRequest, RunRequest
from mainspring.server.state import ServiceState, service

_KEEPALIVE_SECONDS = 15.0
_GRACE_SECONDS = 0.5
_FINAL_EVENTS = frozenset({"run_finished", "run_cancelled", "run_error"})
_APPROVAL_STATUSES = ("pending", "approved", "denied", "expired", "cancelled")


def _int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise Problem(422, f"query parameter {name!r} must be an integer from {low} to {high}")
    return int(text)


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: every store answers a query."""
    s = service(request)
    checks: dict[str, str] = {}
    try:
        await s.keys.db.fetchone("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc}"
    try:
        await s.runs.run_store.list(limit=1)
        checks["run_store"] = "ok"
    except Exception as exc:
        checks["run_store"] = f"error: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text; an operator key unless the settings make it public."""
    s = service(request)
    if not s.settings.metrics_public:
        await s.operator(request)
    return Response(s.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def create_run(request: Request) -> Response:
    """Accept a run: 202 with its id; it runs in the background."""
    s = service(request)
    caller = await s.caller(request)
    body = await s.body(request, RunRequest)
    accepted = await s.runs.create(caller, body)
    return JSONResponse(
        accepted, status_code=202, headers={"Location": f"/v1/runs/{accepted['id']}"}
    )


async def list_runs(request: Request) -> Response:
    """The caller's runs, newest first, `limit` at a time; `cursor` fetches the next page."""
    s = service(request)
    caller = await s.caller(request)
    limit = _int_param(request, "limit", 20, low=1, high=s.settings.max_page_size)
    status = request.query_params.get("status")
    runs, cursor = await s.runs.list(
        caller.tenant, limit=limit, cursor=request.query_params.get("cursor"), status=status
    )
    return JSONResponse({"runs": runs, "next_cursor": cursor})


async def get_run(request: Request) -> Response:
    """One run: status, output, totals."""
    s = service(request)
    caller = await s.caller(request)
    return JSONResponse(run_view(await s.runs.row(caller.tenant, request.path_params["run_id"])))


async def cancel_run(request: Request) -> Response:
    """Stop an active run."""
    s = service(request)
    caller = await s.caller(request)
    return JSONResponse(await s.runs.cancel(caller.tenant, request.path_params["run_id"]))


async def resume_run(request: Request) -> Response:
    """Continue a failed or needs-attention run from its record."""
    s = service(request)
    caller = await s.caller(request)
    resumed = await s.runs.resume(caller.tenant, request.path_params["run_id"])
    return JSONResponse(resumed, status_code=202)


def _last_event_id(request: Request) -> int:
    text = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if text is None or text == "":
        return 0
    if not text.isdigit():
        raise Problem(422, "Last-Event-ID must be the integer id of an event this stream sent")
    return int(text)


async def run_events(request: Request) -> Response:
    """Server-sent events of a run from the start (or after Last-Event-ID), live until it ends."""
    s = service(request)
    caller = await s.caller(request)
    run_id = request.path_params["run_id"]
    await s.runs.row(caller.tenant, run_id)
    after = _last_event_id(request)
    limit = s.settings.quotas.event_streams
    if s.streams[caller.tenant] >= limit:
        raise Problem(
            429, f"this tenant has {limit} open event streams, the limit; close one", retry_after=5
        )
    s.streams[caller.tenant] += 1
    s.metrics.streams.inc()
    return StreamingResponse(
        _sse(s, caller.tenant, run_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse(s: ServiceState, tenant: str, run_id: str, after: int) -> AsyncIterator[str]:
    try:
        idle = 0.0
        last_type = ""
        grace = True
        while True:
            signal = s.events.signal(run_id)
            # Status first, then events: once a terminal status is read, every event before it
            # is in the table, so the page read next is complete.
            status = (await s.runs.row(tenant, run_id))["status"]
            events = await s.events.read(run_id, after)
            for event in events:
                after, last_type = event.seq, event.type
                data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
                yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"
            if events:
                idle = 0.0
                continue
            if status in ("completed", "failed", "cancelled", "needs_attention"):
                # A cancel writes the status before its event: wait once for that last event.
                if last_type in _FINAL_EVENTS or not grace:
                    return
                grace = False
                with anyio.move_on_after(_GRACE_SECONDS):
                    await signal.wait()
                continue
            before = anyio.current_time()
            await s.events.wait(signal)
            idle += anyio.current_time() - before
            if idle >= _KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"
    finally:
        s.streams[tenant] -= 1
        s.metrics.streams.dec()


async def list_approvals(request: Request) -> Response:
    """The caller's approvals (`status=pending` for what awaits a decision)."""
    s = service(request)
    caller = await s.caller(request)
    status = request.query_params.get("status")
    if status is not None and status not in _APPROVAL_STATUSES:
        raise Problem(422, f"status must be one of {', '.join(_APPROVAL_STATUSES)}")
    run_id = request.query_params.get("run_id")
    found = await s.approvals.list(caller.tenant, status=status, run_id=run_id)  # type: ignore[arg-type]
    return JSONResponse({"approvals": [a.to_json() for a in found]})


async def get_approval(request: Request) -> Response:
    """One approval."""
    s = service(request)
    caller = await s.caller(request)
    approval_id = request.path_params["approval_id"]
    found = await s.approvals.get(caller.tenant, approval_id)
    if found is None:
        raise not_found("approval", approval_id)
    return JSONResponse(found.to_json())


async def decide_approval(request: Request) -> Response:
    """Approve or deny a pending call; the run continues at once."""
    s = service(request)
    caller = await s.caller(request)
    body = await s.body(request, DecisionRequest)
    return JSONResponse(await decide(s, caller.tenant, caller.principal.id, request, body))


async def decide(
    s: ServiceState, tenant: str, who: str, request: Request, body: DecisionRequest
) -> dict[str, Any]:
    """Record a decision (shared with the dashboard's form)."""
    approval_id = request.path_params["approval_id"]
    try:
        decided = await s.approvals.decide(tenant, approval_id, body.decision, body.reason, who)
    except ApprovalNotFoundError:
        raise not_found("approval", approval_id) from None
    except ApprovalClosedError as exc:
        if exc.status == "expired":
            raise Problem(
                410, "this approval expired before a decision; the call was denied"
            ) from None
        raise Problem(409, f"this approval was already {exc.status}") from None
    return decided.to_json()


async def list_tools(request: Request) -> Response:
    """The tools this key may use, with this tenant's live statistics."""
    s = service(request)
    caller = await s.caller(request)
    registry = s.tenants.executor(caller.tenant).registry
    stats = await registry.stats()
    tools = []
    for tool in registry:
        if not caller.principal.may_use(tool.policy.scopes):
            continue
        st = stats[tool.name]
        tools.append(
            {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "requires_approval": tool.policy.requires_approval,
                "status": st.status,
                "calls": st.calls,
                "errors": st.errors,
                "cache_hits": st.cache_hits,
                "p50_ms": st.p50_ms,
                "p95_ms": st.p95_ms,
                "errors_by_kind": st.errors_by_kind,
            }
        )
    return JSONResponse({"tools": tools})


async def list_audit(request: Request) -> Response:
    """The caller's audit records (all its runs, or one with `run_id`), oldest first."""
    s = service(request)
    caller = await s.caller(request)
    limit = _int_param(request, "limit", 100, low=1, high=1000)
    after = _int_param(request, "after", 0, low=0, high=2**62)
    run_id = request.query_params.get("run_id")
    if run_id is not None:
        await s.runs.row(caller.tenant, run_id)  # another tenant's run is a 404 here too
        wanted = {run_id}
    else:
        rows = await s.keys.db.fetchall("SELECT id FROM runs WHERE tenant = ?", (caller.tenant,))
        wanted = {r["id"] for r in rows}
    records: list[Any] = []
    async for body in s.audit_log.bodies():
        if not isinstance(body, dict) or body.get("run_id") not in wanted:
            continue
        if body.get("seq", 0) > after:
            records.append(body)
            if len(records) >= limit:
                break
    next_after = records[-1]["seq"] if len(records) >= limit else None
    return JSONResponse({"records": records, "next_after": next_after})


async def verify_audit(request: Request) -> Response:
    """Whether the audit chain is intact (it is one chain for the whole service)."""
    s = service(request)
    caller = await s.caller(request)
    report = await verify_log(s.audit_log.bodies())
    body: dict[str, Any] = {"ok": report.ok, "problem": report.problem}
    if caller.operator:
        body |= {
            "records": report.records,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
        }
    return JSONResponse(body)


def api_routes() -> list[BaseRoute]:
    """Every JSON route of the service."""
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/v1/runs", create_run, methods=["POST"]),
        Route("/v1/runs", list_runs, methods=["GET"]),
        Route("/v1/runs/{run_id}", get_run, methods=["GET"]),
        Route("/v1/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/v1/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
        Route("/v1/runs/{run_id}/resume", resume_run, methods=["POST"]),
        Route("/v1/approvals", list_approvals, methods=["GET"]),
        Route("/v1/approvals/{approval_id}", get_approval, methods=["GET"]),
        Route("/v1/approvals/{approval_id}", decide_approval, methods=["POST"]),
        Route("/v1/tools", list_tools, methods=["GET"]),
        Route("/v1/audit", list_audit, methods=["GET"]),
        Route("/v1/audit/verify", verify_audit, methods=["GET"]),
    ]
