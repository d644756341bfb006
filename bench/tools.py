"""Executor overhead per call, guards off and on, and 10,000 concurrent calls vs bare asyncio.

Run: `python -m bench tools`. The tool is trivial on purpose: what is measured is the runtime.
"all guards on" means scopes, validation, approval, rate limit (set high enough never to reject),
circuit breaker, cache (every call a miss and a store: distinct arguments) and timeout.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from mainspring.messages import ToolCall
from mainspring.tools import (
    ApprovalRequest,
    CallContext,
    Principal,
    ToolExecutor,
    ToolRegistry,
    tool,
)
from mainspring.tools.guards import InMemoryBackend
from mainspring.tools.guards.validation import ValidationGuard


async def noop(x: int) -> int:
    """Return x."""
    return x


bare_tool = tool(noop)
guarded_tool = tool(
    name="guarded",
    timeout=5.0,
    rate_limit="1000000000/s",
    cache_ttl=60,
    breaker=5,
    scopes={"bench"},
    requires_approval=True,
)(noop)

CTX = CallContext(
    principal=Principal("bench", frozenset({"bench"})),
    run_id="bench",
    approver=lambda request: True,
)
N = 20_000
REPEATS = 5


def _executors() -> tuple[ToolExecutor, ToolExecutor]:
    # "Off" still validates: without it the call would fail (no keyword arguments) and the
    # figure would time an error path.
    off = ToolExecutor(ToolRegistry([bare_tool]), guards=[ValidationGuard()], default_timeout=None)
    on = ToolExecutor(ToolRegistry([guarded_tool], backend=InMemoryBackend(cache_size=N * 2)))
    return off, on


async def _per_call_us(make_call: Callable[[int], Awaitable[object]]) -> float:
    samples = []
    for r in range(REPEATS):
        start = time.perf_counter()
        for i in range(N):
            await make_call(r * N + i)
        samples.append((time.perf_counter() - start) / N * 1e6)
    return statistics.median(samples)


async def _overhead() -> dict[str, float]:
    off, on = _executors()
    direct = await _per_call_us(lambda i: noop(x=i))
    guards_off = await _per_call_us(lambda i: off.execute(ToolCall("c", "noop", {"x": i}), CTX))
    guards_on = await _per_call_us(lambda i: on.execute(ToolCall("c", "guarded", {"x": i}), CTX))
    cached = await _per_call_us(lambda i: on.execute(ToolCall("c", "guarded", {"x": 1}), CTX))
    return {"direct": direct, "off": guards_off, "on": guards_on, "cached": cached}


async def _concurrent(count: int = 10_000) -> tuple[float, float, float]:
    def best(samples: list[float]) -> float:
        return statistics.median(samples)

    bare, guarded, many = [], [], []
    for r in range(REPEATS):
        start = time.perf_counter()
        await asyncio.gather(*(noop(x=i) for i in range(count)))
        bare.append(time.perf_counter() - start)
        _, on = _executors()
        calls = [ToolCall(str(i), "guarded", {"x": r * count + i}) for i in range(count)]
        start = time.perf_counter()
        await asyncio.gather(*(on.execute(c, CTX) for c in calls))
        guarded.append(time.perf_counter() - start)
        _, on = _executors()
        on.max_concurrency = count
        start = time.perf_counter()
        await on.execute_many(calls, CTX)
        many.append(time.perf_counter() - start)
    return best(bare), best(guarded), best(many)


def main() -> str:
    o = asyncio.run(_overhead())
    bare, guarded, many = asyncio.run(_concurrent())
    return "\n".join(
        [
            "## Tool executor overhead (`bench/tools.py`)",
            "",
            "Per call, median of 5 runs of 20,000 sequential calls of a trivial async tool.",
            "",
            "| path | µs per call | overhead vs direct |",
            "| --- | ---: | ---: |",
            f"| direct `await noop(x=i)` | {o['direct']:.2f} | - |",
            f"| executor, all guards off | {o['off']:.2f} | {o['off'] - o['direct']:.2f} |",
            f"| executor, all guards on (cache miss + store) | {o['on']:.2f} | "
            f"{o['on'] - o['direct']:.2f} |",
            f"| executor, all guards on (cache hit) | {o['cached']:.2f} | "
            f"{o['cached'] - o['direct']:.2f} |",
            "",
            "Target: under 25 µs of overhead per call with all guards on.",
            "",
            "10,000 calls at once, all guards on, median of 5 runs:",
            "",
            "| path | ms | vs bare |",
            "| --- | ---: | ---: |",
            f"| bare `asyncio.gather` of the function | {bare * 1e3:.1f} | 1.00x |",
            f"| `asyncio.gather` of `executor.execute` | {guarded * 1e3:.1f} | "
            f"{guarded / bare:.2f}x |",
            f"| `executor.execute_many` | {many * 1e3:.1f} | {many / bare:.2f}x |",
            "",
            "Target: no more than 2x the bare asyncio baseline.",
        ]
    )


_ = ApprovalRequest  # the approver above receives these
