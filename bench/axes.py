"""The performance issue's axes (#16), for mainspring alone: the same shape as the side-by-side run.

A scripted `FunctionModel` asks for K = 10 tool calls per run, then answers. Every figure is the
median of 5 fresh processes, so one process's warm caches never help another figure (bytecode
is cached, as after `pip install`: `bench/_fresh.py`).

Run: `python -m bench axes`.
"""

from __future__ import annotations

import json
import statistics

from bench._fresh import run, warm_up

K = 10

_COMMON = """
import asyncio, json, time, tracemalloc, resource, sys, tempfile, os
from mainspring import Agent, tool
from mainspring.agent import Budget
from mainspring.messages import Message, ModelResponse, ToolCall, Usage
from mainspring.testing import FunctionModel

K = %(k)d

def decide(request):
    done = sum(1 for m in request.messages if m.role == "tool")
    if done < K:
        return Message("assistant", tool_calls=(ToolCall(f"c{done}", "add", {"a": done, "b": 1}),))
    return Message("assistant", "done")

def add_sync(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b

async def add_async(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b

def agent_with(fn, **kw):
    budget = Budget(max_iterations=K + 1)
    return Agent(FunctionModel(decide), [tool(name="add")(fn)], budget=budget, **kw)

async def steps(agent, runs):
    started = time.perf_counter()
    for _ in range(runs):
        result = await agent.run("go")
        assert result.tool_calls == K, result
    return (time.perf_counter() - started) / (runs * (K + 1)) * 1e6
"""

_PROBES = {
    "build": """
def build():
    return Agent(FunctionModel(decide), [tool(add_sync)])
for _ in range(200):
    build()
n = 2000
started = time.perf_counter()
for _ in range(n):
    build()
per = (time.perf_counter() - started) / n * 1e6
tracemalloc.start()
agent = build()
peak = tracemalloc.get_traced_memory()[1] / 1024
tracemalloc.stop()
print(json.dumps({"build_us": per, "build_kib": peak}))
""",
    "first": """
started = time.perf_counter()
agent = Agent(FunctionModel(decide), [tool(add_sync)])
built = time.perf_counter() - started
asyncio.run(agent.run("go"))
print(json.dumps({"first_ms": built * 1e3, "first_run_ms": (time.perf_counter() - started) * 1e3}))
""",
    "steps": """
async def main():
    plain, coro = agent_with(add_sync), agent_with(add_async)
    await steps(plain, 20); await steps(coro, 20)
    return {"sync_us": await steps(plain, 100), "async_us": await steps(coro, 100)}
print(json.dumps(asyncio.run(main())))
""",
    "concurrent": """
async def main():
    agent = agent_with(add_async)
    await asyncio.gather(*(agent.run("go") for _ in range(20)))
    started = time.perf_counter()
    results = await asyncio.gather(*(agent.run("go") for _ in range(200)))
    assert all(r.tool_calls == K for r in results)
    return (time.perf_counter() - started) * 1e3
ms = asyncio.run(main())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"concurrent_ms": ms, "rss_mib": rss}))
""",
    "durable": """
from mainspring.audit import AuditSink, JsonlAuditLog
from mainspring.runs import SqliteRunStore
async def main():
    folder = tempfile.mkdtemp()
    store = SqliteRunStore(os.path.join(folder, "runs.db"))
    audit = JsonlAuditLog(os.path.join(folder, "audit.jsonl"))
    agent = agent_with(add_sync, run_store=store, audit=AuditSink(audit))
    await steps(agent, 5)
    return {"durable_us": await steps(agent, 40)}
print(json.dumps(asyncio.run(main())))
""",
}


def _probe(name: str) -> dict[str, float]:
    code = _COMMON % {"k": K} + _PROBES[name]
    samples: list[dict[str, float]] = []
    for _ in range(5):
        out = run(code)
        samples.append(json.loads(out.strip().splitlines()[-1]))
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def _import_ms() -> float:
    code = "import time; t=time.perf_counter(); from mainspring import Agent, tool; "
    code += "print((time.perf_counter()-t)*1e3)"
    return statistics.median(float(run(code)) for _ in range(5))


def main() -> str:
    warm_up()
    figures: dict[str, float] = {"import_ms": _import_ms()}
    for name in _PROBES:
        figures.update(_probe(name))
    rows = [
        ("build one agent with one tool", f"{figures['build_us']:.1f} µs", "< 8 µs"),
        ("peak memory while building one", f"{figures['build_kib']:.1f} KiB", "< 5 KiB"),
        ("first agent in a fresh process", f"{figures['first_ms']:.2f} ms", "< 20 ms"),
        ("first agent's first run (incl. tokenizer)", f"{figures['first_run_ms']:.0f} ms", "-"),
        ("`from mainspring import Agent, tool`", f"{figures['import_ms']:.0f} ms", "< 100 ms"),
        ("step, plain `def` tool", f"{figures['sync_us']:.0f} µs", "< 100 µs"),
        ("step, `async def` tool", f"{figures['async_us']:.0f} µs", "< 40 µs"),
        ("200 concurrent runs, async tool", f"{figures['concurrent_ms']:.0f} ms", "< 100 ms"),
        ("peak RSS, 200 concurrent runs", f"{figures['rss_mib']:.0f} MiB", "< 60 MiB"),
        (
            "step with SQLite run store + JSONL audit",
            f"{figures['durable_us']:.0f} µs ({figures['durable_us'] / figures['sync_us']:.1f}x)",
            "< 3x the plain step",
        ),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return (
        "## The performance issue's axes (`bench/axes.py`)\n\n"
        f"Scripted `FunctionModel`, K = {K} tool calls per run, median of 5 fresh processes "
        "(import: the interpreter's own clock around the import).\n\n"
        "| axis | mainspring | target |\n| --- | ---: | ---: |\n" + table + "\n"
    )


if __name__ == "__main__":
    print(main())
