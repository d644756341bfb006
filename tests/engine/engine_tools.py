"""Tools for the engine's worker processes: each call leaves a row in PostgreSQL.

`charge` is not idempotent (a payment): the test checks it ran at most once per run, and exactly
once for every completed run. `lookup` is idempotent. `refund` waits for a human's approval. The
database is `ENGINE_EFFECTS_DB`, read at each call (the tests set it per test).
"""

from __future__ import annotations

import os

import anyio
import psycopg

from mainspring.tools import Tool, tool


def _effect(kind: str, order: str) -> None:
    with psycopg.connect(os.environ["ENGINE_EFFECTS_DB"], autocommit=True) as conn:
        conn.execute("INSERT INTO effects (kind, run_order) VALUES (%s, %s)", (kind, order))


@tool(idempotent=True)
def lookup(order: str) -> str:
    """Look an order up."""
    _effect("lookup", order)
    return f"{order} costs 5"


@tool
def charge(order: str) -> str:
    """Charge an order (not idempotent)."""
    _effect("charge", order)
    return f"charged {order}"


@tool(requires_approval=True)
def refund(order: str) -> str:
    """Refund an order (a person approves each refund)."""
    _effect("refund", order)
    return f"refunded {order}"


@tool(idempotent=True, timeout=120)
async def nap(seconds: float) -> str:
    """Take a while (a run that is still going when a test cancels it)."""
    await anyio.sleep(seconds)
    return f"slept {seconds}"


TOOLS: list[Tool] = [lookup, charge, refund, nap]
