"""A process that runs (or resumes) one multi-step agent run; the crash test SIGKILLs it.

Usage: python crash_worker.py DB_PATH EFFECTS_PATH
Prints "ready" once imports are done, waits for a run id on stdin, then runs (or resumes) it and
prints its stop reason and output.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from mainspring.agent import Agent
from mainspring.errors import RunNotFoundError
from mainspring.messages import ModelResponse
from mainspring.runs import SqliteRunStore
from mainspring.testing import FunctionModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import CallContext, tool

EFFECTS = Path(sys.argv[2])


def _effect(line: str) -> None:
    # One O_APPEND write + fsync: the effect is either fully recorded or not at all.
    fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@tool(idempotent=True)
async def lookup(item: str) -> int:
    """Price of an item (a pure read: safe to repeat)."""
    await asyncio.sleep(0.02)
    _effect(f"lookup {item}")
    return {"apple": 3, "pear": 4, "plum": 5}[item]


def _effects() -> list[str]:
    return EFFECTS.read_text().splitlines() if EFFECTS.exists() else []


@tool(idempotent=True)
async def charge(amount: int, ctx: CallContext) -> str:
    """Charge an amount exactly once, however often it is retried (dedupes on the key)."""
    done = await asyncio.to_thread(_effects)
    if f"charge {ctx.idempotency_key} {amount}" in done:
        return f"charged {amount}"  # the same answer as the first time
    await asyncio.sleep(0.02)
    _effect(f"charge {ctx.idempotency_key} {amount}")
    return f"charged {amount}"


PLAN: list[list[tuple[str, dict[str, Any]]]] = [
    [("lookup", {"item": "apple"})],
    [("charge", {"amount": 3})],
    [("lookup", {"item": "pear"}), ("lookup", {"item": "plum"})],
    [("charge", {"amount": 9})],
]


async def decide(request: ModelRequest) -> ModelResponse:
    await asyncio.sleep(0.01)
    done_steps = sum(1 for m in request.messages if m.role == "assistant")
    if done_steps < len(PLAN):
        return tool_calls(*PLAN[done_steps])
    results = [m.content for m in request.messages if m.role == "tool"]
    return text("receipt: " + "; ".join(results))


async def main(db: str, run_id: str) -> None:
    store = SqliteRunStore(db)
    agent = Agent(FunctionModel(decide), [lookup, charge], run_store=store)
    try:
        await store.load(run_id)
    except RunNotFoundError:
        result = await agent.run("buy fruit", run_id=run_id)
    else:
        result = await agent.resume(run_id)
    print(result.stop_reason, flush=True)
    print(result.output, flush=True)
    await store.aclose()


if __name__ == "__main__":
    print("ready", flush=True)
    asyncio.run(main(sys.argv[1], sys.stdin.readline().strip()))
