"""Durable, bounded human approvals: a call waits in the database until a person decides.

The wait survives a restart: the request stays `pending`, and the resumed run finds it again
(same run, tool and arguments) instead of asking twice. Every wait has an expiry; an expired
request is a denial.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from pydantic_core import to_jsonable_python

from mainspring.runs.base import utc_now
from mainspring.server._db import Row, ServiceDatabase
from mainspring.tools.base import ApprovalRequest

ApprovalStatus = Literal["pending", "approved", "denied", "expired", "cancelled"]
Decision = Literal["approve", "deny"]
_POLL_SECONDS = 1.0
"""How often a waiter re-reads the database (a decision made by another replica)."""


class ApprovalNotFoundError(LookupError):
    """No approval with that id belongs to the caller's tenant."""


class ApprovalClosedError(Exception):
    """The approval is no longer pending."""

    def __init__(self, status: ApprovalStatus) -> None:
        super().__init__(f"this approval is already {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Approval:
    """One request for a human decision, as stored."""

    id: str
    tenant: str
    run_id: str
    tool: str
    arguments: dict[str, Any]
    principal: str
    provenance: Any
    status: ApprovalStatus
    reason: str | None
    decided_by: str | None
    created_at: str
    expires_at: float
    decided_at: str | None

    def to_json(self) -> dict[str, Any]:
        """The API's view (the tenant is implied by the key)."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "tool": self.tool,
            "arguments": self.arguments,
            "principal": self.principal,
            "provenance": self.provenance,
            "status": self.status,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "decided_at": self.decided_at,
        }


def _approval(row: Row) -> Approval:
    provenance = row["provenance"]
    return Approval(
        row["id"],
        row["tenant"],
        row["run_id"],
        row["tool"],
        json.loads(row["arguments"]),
        row["principal"],
        None if provenance is None else json.loads(provenance),
        row["status"],
        row["reason"],
        row["decided_by"],
        row["created_at"],
        row["expires_at"],
        row["decided_at"],
    )


def _canonical(arguments: Mapping[str, Any]) -> str:
    return json.dumps(
        to_jsonable_python(dict(arguments), fallback=repr), sort_keys=True, separators=(",", ":")
    )


class ApprovalBook:
    """The approvals table, and the in-process signals that wake a waiting call."""

    def __init__(
        self, db: ServiceDatabase, *, timeout: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.timeout = timeout
        self.clock = clock
        self._signals: dict[str, anyio.Event] = {}

    async def open(self, tenant: str, request: ApprovalRequest) -> Approval:
        """The pending approval for this call: the existing one (after a restart) or a new one."""
        arguments = _canonical(request.arguments)
        run_id = request.run_id or ""
        # A decision nobody has acted on yet (approved while the run's process was down)
        # answers this call too: the person was asked about exactly this call.
        row = await self.db.fetchone(
            "SELECT * FROM approvals WHERE tenant = ? AND run_id = ? AND tool = ? "
            "AND arguments = ? AND (status = 'pending' OR (status = 'approved' AND consumed = 0)) "
            "ORDER BY created_at LIMIT 1",
            (tenant, run_id, request.tool, arguments),
        )
        if row is not None:
            return _approval(row)
        provenance = getattr(request, "provenance", None)
        approval_id = f"apr_{secrets.token_hex(8)}"
        await self.db.execute(
            "INSERT INTO approvals (id, tenant, run_id, tool, arguments, principal, provenance, "
            "status, created_at, expires_at) VALUES (?,?,?,?,?,?,?,'pending',?,?)",
            (
                approval_id,
                tenant,
                run_id,
                request.tool,
                arguments,
                request.principal.id,
                None if provenance is None else json.dumps(to_jsonable_python(provenance)),
                utc_now(),
                self.clock() + self.timeout,
            ),
        )
        found = await self.get(tenant, approval_id)
        assert found is not None  # just inserted
        return found

    async def get(self, tenant: str, approval_id: str) -> Approval | None:
        """One of the tenant's approvals."""
        row = await self.db.fetchone(
            "SELECT * FROM approvals WHERE tenant = ? AND id = ?", (tenant, approval_id)
        )
        return None if row is None else _approval(row)

    async def list(
        self, tenant: str, *, status: ApprovalStatus | None = None, run_id: str | None = None
    ) -> list[Approval]:
        """The tenant's approvals, newest first."""
        sql = "SELECT * FROM approvals WHERE tenant = ?"
        params: list[Any] = [tenant]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        rows = await self.db.fetchall(sql + " ORDER BY created_at DESC LIMIT 500", params)
        return [_approval(r) for r in rows]

    async def decide(
        self, tenant: str, approval_id: str, decision: Decision, reason: str | None, by: str
    ) -> Approval:
        """Record a person's decision; `ApprovalClosedError` when it is too late for one."""
        found = await self.get(tenant, approval_id)
        if found is None:
            raise ApprovalNotFoundError(approval_id)
        if found.status == "pending" and found.expires_at <= self.clock():
            await self._close(approval_id, "expired", "no decision before the expiry", None)
            raise ApprovalClosedError("expired")
        status: ApprovalStatus = "approved" if decision == "approve" else "denied"
        if not await self._close(approval_id, status, reason, by):
            current = await self.get(tenant, approval_id)
            raise ApprovalClosedError(current.status if current else "cancelled")
        decided = await self.get(tenant, approval_id)
        assert decided is not None
        return decided

    async def _close(
        self, approval_id: str, status: ApprovalStatus, reason: str | None, by: str | None
    ) -> bool:
        # Only a pending row changes: two concurrent decisions cannot both win.
        changed = await self.db.execute(
            "UPDATE approvals SET status = ?, reason = ?, decided_by = ?, decided_at = ? "
            "WHERE id = ? AND status = 'pending'",
            (status, reason, by, utc_now(), approval_id),
        )
        signal = self._signals.pop(approval_id, None)
        if signal is not None:
            signal.set()
        return changed > 0

    async def cancel_run(self, run_id: str) -> None:
        """Close a cancelled run's pending approvals."""
        rows = await self.db.fetchall(
            "SELECT id FROM approvals WHERE run_id = ? AND status = 'pending'", (run_id,)
        )
        for row in rows:
            await self._close(row["id"], "cancelled", "the run was cancelled", None)

    async def wait(self, approval: Approval) -> Approval:
        """Until the approval is decided or expires (then it is closed as expired)."""
        while True:
            # Taken before the read, so a decision landing between the two still wakes us.
            signal = self._signals.setdefault(approval.id, anyio.Event())
            current = await self.get(approval.tenant, approval.id)
            if current is None or current.status != "pending":
                assert current is not None  # rows are never deleted
                return current
            left = current.expires_at - self.clock()
            if left <= 0:
                await self._close(approval.id, "expired", "no decision before the expiry", None)
                continue
            with anyio.move_on_after(min(left, _POLL_SECONDS)):
                await signal.wait()

    async def consume(self, approval_id: str) -> None:
        """Mark an approval acted on: from now on its call may have run."""
        await self.db.execute("UPDATE approvals SET consumed = 1 WHERE id = ?", (approval_id,))

    async def pending_tools(self, run_id: str) -> set[str]:
        """Tools whose approval in a run is pending or unacted on: their calls never ran."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT tool FROM approvals WHERE run_id = ? "
            "AND (status = 'pending' OR (status = 'approved' AND consumed = 0))",
            (run_id,),
        )
        return {r["tool"] for r in rows}


WaitHook = Callable[[Approval], Awaitable[None]]


class DurableApprover:
    """The `Approver` of one run: records the request, reports the wait, returns the decision."""

    def __init__(
        self, book: ApprovalBook, tenant: str, *, waiting: WaitHook, decided: WaitHook
    ) -> None:
        self.book = book
        self.tenant = tenant
        self._waiting = waiting
        self._decided = decided

    async def __call__(self, request: ApprovalRequest) -> bool:
        """True only for an explicit approval before the expiry."""
        approval = await self.book.open(self.tenant, request)
        await self._waiting(approval)
        final = await self.book.wait(approval)
        await self._decided(final)
        if final.status != "approved":
            return False
        # Recorded before the call goes on: after this, a crash leaves its outcome unknown.
        await self.book.consume(final.id)
        return True
