"""Authorisation: the caller's scopes, and a human (or policy) approval for sensitive tools."""

from __future__ import annotations

import inspect

from mainspring.errors import ApprovalRequiredError, ForbiddenError
from mainspring.tools.base import ApprovalRequest, Tool
from mainspring.tools.guards.base import Handler, Invocation


class ScopeGuard:
    """Rejects a call unless the principal holds every scope the tool requires."""

    def applies(self, tool: Tool) -> bool:
        """Only tools that declare scopes."""
        return bool(tool.policy.scopes)

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Check scopes, then continue."""
        principal = invocation.ctx.principal
        missing = invocation.tool.policy.scopes - principal.scopes
        if missing:
            raise ForbiddenError(
                f"principal {principal.id!r} may not call {invocation.tool.name!r}: "
                f"missing scope(s) {sorted(missing)}; choose another tool or ask an operator"
            )
        return await call_next(invocation)


class ApprovalGuard:
    """Asks the context's approver before a `requires_approval` tool runs.

    It runs after validation on purpose: an approver should judge the exact arguments that will
    run, and never be asked about a call that would fail validation anyway.
    """

    def applies(self, tool: Tool) -> bool:
        """Only tools declared `requires_approval` (always, or for tainted calls)."""
        return tool.policy.requires_approval is not False

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Ask the approver; no approver or a 'no' stops the call."""
        ctx = invocation.ctx
        name = invocation.tool.name
        provenance = ctx.scope.provenance if ctx.scope is not None else ()
        if invocation.tool.policy.requires_approval == "tainted" and not provenance:
            return await call_next(invocation)  # the call follows from the task alone
        if ctx.approver is None:
            raise ApprovalRequiredError(
                f"{name!r} needs approval and no approver is configured for this run; "
                "do not retry, tell the user the action awaits approval"
            )
        request = ApprovalRequest(
            tool=name,
            arguments=invocation.tool.redact(invocation.kwargs),
            principal=ctx.principal,
            run_id=ctx.run_id,
            provenance=provenance,
        )
        answer = ctx.approver(request)
        approved = await answer if inspect.isawaitable(answer) else answer
        if not approved:
            raise ForbiddenError(f"the approver declined this call of {name!r}; do not retry it")
        return await call_next(invocation)
