"""Overhead of a sandboxed `python -c 'print(1)'` versus a bare subprocess, at each level.

Run: `python -m bench sandbox`. "bare" is `subprocess.run` of the same command with captured
output and nothing else; the sandboxed rows go through `Sandbox.run` (uid lease, fresh workspace,
rlimits, output capture, cleanup of every process of the run, workspace deletion). "cold" rows
start their jail at the call (`WarmPool(size=0)`); "warm" rows take a pre-started jail from the
default pool (2 per call shape, refilled in the background) and pay for the hand-over, the
code and the teardown. The calls are interleaved (bare, process cold, process warm, ...) so that
load from other work on a shared machine hits every row alike, and so that a warm row's pool
refills while the other rows run, as it does between an agent's tool calls; a warm-row call
that found its pool empty ran cold and is counted as it ran. Calls/s runs 40 calls with 4 at
once (there the pool of 2 empties at once, so it measures jail start-up). The namespaced rows
are missing when bubblewrap cannot run here.

A second table prices `@tool(sandbox=...)`: one call of a trivial function through the
executor, in process and in a jailed child (a fresh interpreter that imports mainspring): cold,
and warm (a pre-started child that has already imported mainspring and pydantic).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import anyio

from mainspring.errors import ConfigurationError
from mainspring.messages import ToolCall
from mainspring.sandbox import BubblewrapSandbox, Limits, ProcessSandbox, WarmPool
from mainspring.sandbox._runner import JailedSandbox
from mainspring.tools import ToolExecutor, ToolRegistry, tool

ARGV = ["/usr/bin/python3", "-c", "print(1)"]
ROUNDS = 60
CONCURRENT_CALLS = 40
CONCURRENCY = 4
FUNCTION_ROUNDS = 15


def echo(n: int) -> int:
    """Return n; the cheapest function a sandboxed tool can run."""
    return n


def _bare() -> None:
    subprocess.run(ARGV, capture_output=True, check=True)


async def _bare_async() -> None:
    _bare()


def _bare_rate() -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda _: _bare(), range(CONCURRENT_CALLS)))
    return CONCURRENT_CALLS / (time.perf_counter() - start)


async def _sandbox_rate(sandbox: JailedSandbox) -> float:
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(CONCURRENT_CALLS):
            group.start_soon(sandbox.run, ARGV)
    return CONCURRENT_CALLS / (time.perf_counter() - start)


COLD = WarmPool(size=0)


def _sandboxes() -> dict[str, JailedSandbox]:
    found: dict[str, JailedSandbox] = {
        "process, rlimits only (no seccomp, no Landlock), cold": ProcessSandbox(
            limits=Limits(), max_concurrent=CONCURRENCY, seccomp=False, landlock=False, pool=COLD
        )
    }
    for cgroups in (False, True):
        suffix = " + cgroups" if cgroups else ""
        for pool, kind in ((COLD, "cold"), (WarmPool(), "warm")):
            weak = ProcessSandbox(
                limits=Limits(), max_concurrent=CONCURRENCY, cgroups=cgroups, pool=pool
            )
            if cgroups and weak._cgroups is None:
                break  # this host does not let us create cgroups: no row
            found[f"process{suffix}, {kind}"] = weak
        for pool, kind in ((COLD, "cold"), (WarmPool(), "warm")):
            try:
                strong = BubblewrapSandbox(
                    limits=Limits(), max_concurrent=CONCURRENCY, cgroups=cgroups, pool=pool
                )
            except ConfigurationError:
                break
            if strong.probe() is not None:
                break
            found[f"namespaces (bubblewrap){suffix}, {kind}"] = strong
    return found


_warm_counts: dict[str, list[bool]] = {}


def _caller(name: str, sandbox: JailedSandbox) -> Callable[[], Awaitable[object]]:
    ran = _warm_counts.setdefault(name, [])

    async def call() -> None:
        result = await sandbox.run(ARGV)
        if result.stdout != "1\n":
            raise RuntimeError(f"sandboxed call failed: {result}")
        ran.append(result.warm)

    return call


async def _latencies(calls: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(ROUNDS + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            await call()
            if round_:  # the first round warms caches up (and fills the pools)
                samples[name].append(time.perf_counter() - start)
    return samples


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _warm_share(name: str) -> str:
    ran = _warm_counts.get(name, [])[1:]  # the first (cold) call of each shape fills its pool
    if not name.endswith("warm") or not ran:
        return "-"
    return f"{100 * sum(ran) / len(ran):.0f}%"


def _protections(sandboxes: dict[str, JailedSandbox]) -> str:
    """Each level's protections, once: a warm jail's are those of the cold one beside it."""
    return "; ".join(
        f"{name.removesuffix(', cold')}: {', '.join(sorted(s.isolation.protections))}"
        for name, s in sandboxes.items()
        if not name.endswith(", warm")
    )


def _function_caller(sandbox: JailedSandbox | None) -> Callable[[], Awaitable[object]]:
    """One call of `echo` through the executor (in a jail when `sandbox` is given)."""
    built = tool(name="echo") if sandbox is None else tool(name="echo", sandbox=sandbox)
    executor = ToolExecutor(ToolRegistry([built(echo)]))

    async def call() -> None:
        result = await executor.execute(ToolCall("1", "echo", {"n": 1}))
        if not result.ok or not result.content.endswith("1"):
            raise RuntimeError(f"sandboxed function call failed: {result}")

    return call


async def _function_p50s(sandboxes: dict[str, JailedSandbox]) -> dict[str, float]:
    calls = {"in process": _function_caller(None)}
    for name in ("process", "namespaces (bubblewrap)"):
        for kind in ("cold", "warm"):
            if f"{name}, {kind}" in sandboxes:
                calls[f"{name}, {kind}"] = _function_caller(sandboxes[f"{name}, {kind}"])
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(FUNCTION_ROUNDS + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            await call()
            if round_:
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def _function_table(sandboxes: dict[str, JailedSandbox]) -> list[str]:
    p50 = anyio.run(_function_p50s, sandboxes)
    rows = [f"| {name} | {seconds * 1000:.1f} |" for name, seconds in p50.items()]
    return [
        "",
        f"### `@tool(sandbox=...)`: one call of a trivial function, p50 of {FUNCTION_ROUNDS}",
        "",
        "| where the function runs | p50 ms |",
        "| --- | --- |",
        *rows,
    ]


def main() -> str:
    sandboxes = _sandboxes()
    calls = {"bare subprocess": _bare_async, **{n: _caller(n, s) for n, s in sandboxes.items()}}
    load_before = os.getloadavg()[0]
    samples = anyio.run(_latencies, calls)
    p50 = {name: statistics.median(values) for name, values in samples.items()}
    p95 = {name: _p95(values) for name, values in samples.items()}
    rates = {"bare subprocess": _bare_rate()}
    for name, sandbox in sandboxes.items():
        rates[name] = anyio.run(_sandbox_rate, sandbox)
    bare = p50["bare subprocess"]
    rows = [
        f"| {name} | {p50[name] * 1000:.1f} | {p95[name] * 1000:.1f} | {p50[name] / bare:.2f}x "
        f"| {_warm_share(name)} | {rates[name]:.0f} |"
        for name in calls
    ]
    return "\n".join(
        [
            "## Sandbox: `python -c 'print(1)'` per call",
            "",
            f"p50 and p95 of {ROUNDS} interleaved calls per row; calls/s for "
            f"{CONCURRENT_CALLS} calls, {CONCURRENCY} at once. Cold: the jail is started at the "
            'call; warm: the call takes a pre-started jail from the sandbox\'s pool ("warm" is '
            "the share of calls that found one). Target: a sandboxed call faster than a bare "
            "subprocess.",
            "",
            f"1-minute load average when it started: {load_before:.1f} (2 cores; the machine is "
            "shared, so compare rows within this table, not across runs).",
            "",
            f"Protections in force (warm rows: the same as cold): {_protections(sandboxes)}.",
            "",
            "| level | p50 ms | p95 ms | p50 vs bare | warm | calls/s (4 at once) |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            *_function_table(sandboxes),
        ]
    )
