"""Everything one running service holds, built once by `create_app`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from mainspring.audit import AuditLog
from mainspring.mcp.base import MCPServerConfig
from mainspring.server.approvals import ApprovalBook
from mainspring.server.auth import Sessions, authenticate
from mainspring.server.events import EventLog
from mainspring.server.keys import Caller, KeyStore
from mainspring.server.metrics import ServiceMetrics
from mainspring.server.problems import Problem
from mainspring.server.runs import RunService
from mainspring.server.settings import ServerSettings
from mainspring.server.tenants import TenantTools

_M = TypeVar("_M", bound=BaseModel)


@dataclass(kw_only=True)
class ServiceState:
    """The service's parts, reachable from every handler as `request.app.state.service`."""

    settings: ServerSettings
    keys: KeyStore
    sessions: Sessions
    runs: RunService
    events: EventLog
    approvals: ApprovalBook
    tenants: TenantTools
    audit_log: AuditLog
    metrics: ServiceMetrics
    streams: Counter[str] = field(default_factory=Counter[str])
    """Open event streams per tenant."""

    async def connect_mcp(self, stack: AsyncExitStack, servers: Sequence[MCPServerConfig]) -> None:
        """Start the MCP servers and add their tools to every tenant's tools, before any run.

        They stay connected until `stack` closes, on the loop that runs this (the runs' loop).
        """
        from mainspring.mcp.client import MCPToolset  # the mcp extra: only when servers are given

        reserved = [t.name for t in self.tenants.tools]
        toolset = MCPToolset(servers, backend=self.tenants.backend, reserved=reserved)
        await stack.enter_async_context(toolset)
        self.tenants.tools = (*self.tenants.tools, *toolset.tools)

    async def aclose(self, *, backend: bool = True) -> None:
        """Close the stores (and the guard backend, unless `backend` is False: not ours)."""
        await self.audit_log.aclose()
        await self.runs.run_store.aclose()
        if backend:
            await self.tenants.backend.aclose()
        await self.keys.db.aclose()
        if self.runs.dispatcher is not None:
            self.runs.dispatcher.close()

    async def caller(self, request: Request) -> Caller:
        """The authenticated caller, or a 401 problem."""
        return await authenticate(request, self.keys, self.sessions)

    async def operator(self, request: Request) -> Caller:
        """An operator key's caller; anyone else gets the same 401 as a bad key."""
        caller = await self.caller(request)
        if not caller.operator:
            raise Problem(401, "this needs an operator key (`mainspring keys create --operator`)")
        return caller

    async def body(self, request: Request, model: type[_M]) -> _M:
        """The request's JSON body, size-limited and validated against `model`."""
        raw = await self.read_body(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Problem(415, "send the body as JSON with 'Content-Type: application/json'")
        try:
            data: Any = json.loads(raw or b"null")
        except ValueError as exc:
            raise Problem(400, f"the body is not valid JSON: {exc}") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
                for e in exc.errors()
            ]
            summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            raise Problem(
                422, f"the body does not validate: {summary}", extra={"errors": problems}
            ) from None

    async def read_body(self, request: Request) -> bytes:
        """The raw body, refusing anything over `max_body_bytes` before reading it all."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Problem(413, f"the body is {declared} bytes; the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def service(request: Request) -> ServiceState:
    """The state of the app serving this request."""
    state: ServiceState = request.app.state.service
    return state
