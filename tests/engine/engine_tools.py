"""Tools for the engine's worker processes: each call leaves a row in PostgreSQL.

`charge` is not idempotent (a payment): the test checks it ran at most once per run, and exactly
once for every completed run. `lookup` is idempotent.
"""

from __future__ import annotations

import os

import psycopg

from mainspring.tools import Tool, tool

DB = os.environ["ENGINE_EFFECTS_DB"]


def _effect(kind: str, order: str) -> None:
    with psycopg.connect(DB, autocommit=True) as conn:
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


TOOLS: list[Tool] = [lookup, charge]
