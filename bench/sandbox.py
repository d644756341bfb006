"""Overhead of a sandboxed `python -c 'print(1)'` versus a bare subprocess, at each level.

Run: `python -m bench sandbox`. "bare" is `subprocess.run` of the same command with captured
output and nothing else; the sandboxed rows go through `Sandbox.run` (uid lease, fresh workspace,
rlimits, output capture, cleanup of every process of the run, workspace deletion). The p50 calls
are interleaved (bare, process, namespaces, bare, ...) so that load from other work on a shared
machine hits every row alike. Calls/s runs 40 calls with 4 at once. The namespaced row is
missing when bubblewrap cannot run here.

A second table prices `@tool(sandbox=...)`: one call of a trivial function through the
executor, in process and in a jailed child (a fresh interpreter that imports mainspring).
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
from mainspring.sandbox import BubblewrapSandbox, Limits, ProcessSandbox
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


def _sandboxes() -> dict[str, JailedSandbox]:
    found: dict[str, JailedSandbox] = {
        "process, rlimits only (no seccomp, no Landlock)": ProcessSandbox(
            limits=Limits(), max_concurrent=CONCURRENCY, seccomp=False, landlock=False
        )
    }
    for cgroups in (False, True):
        suffix = " + cgroups" if cgroups else ""
        weak = ProcessSandbox(limits=Limits(), max_concurrent=CONCURRENCY, cgroups=cgroups)
        if cgroups and weak._cgroups is None:
            continue  # this host does not let us create cgroups: no row
        found[f"process{suffix}"] = weak
        try:
            strong = BubblewrapSandbox(limits=Limits(), max_concurrent=CONCURRENCY, cgroups=cgroups)
        except ConfigurationError:
            continue
        if strong.probe() is None:
            found[f"namespaces (bubblewrap){suffix}"] = strong
    return found


def _caller(sandbox: JailedSandbox) -> Callable[[], Awaitable[object]]:
    async def call() -> None:
        result = await sandbox.run(ARGV)
        if result.stdout != "1\n":
            raise RuntimeError(f"sandboxed call failed: {result}")

    return call


async def _p50s(calls: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(ROUNDS + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            await call()
            if round_:  # the first round warms caches up
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def _protections(sandboxes: dict[str, JailedSandbox]) -> str:
    return "; ".join(
        f"{name}: {', '.join(sorted(s.isolation.protections))}" for name, s in sandboxes.items()
    )


def _function_caller(sandbox: JailedSandbox | None) -> Callable[[], Awaitable[object]]:
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
        if name in sandboxes:
            calls[name] = _function_caller(sandboxes[name])
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
    calls = {"bare subprocess": _bare_async, **{n: _caller(s) for n, s in sandboxes.items()}}
    load_before = os.getloadavg()[0]
    p50 = anyio.run(_p50s, calls)
    rates = {"bare subprocess": _bare_rate()}
    for name, sandbox in sandboxes.items():
        rates[name] = anyio.run(_sandbox_rate, sandbox)
    bare = p50["bare subprocess"]
    rows = [
        f"| {name} | {p50[name] * 1000:.1f} | {p50[name] / bare:.2f}x | {rates[name]:.0f} |"
        for name in calls
    ]
    return "\n".join(
        [
            "## Sandbox: `python -c 'print(1)'` per call",
            "",
            f"p50 of {ROUNDS} interleaved calls per row; calls/s for {CONCURRENT_CALLS} calls, "
            f"{CONCURRENCY} at once. Target: sandboxed p50 under 1.5x bare.",
            "",
            f"1-minute load average when it started: {load_before:.1f} (2 cores; the machine is "
            "shared, so compare rows within this table, not across runs).",
            "",
            f"Protections in force: {_protections(sandboxes)}.",
            "",
            "| level | p50 ms | vs bare | calls/s (4 at once) |",
            "| --- | --- | --- | --- |",
            *rows,
            *_function_table(sandboxes),
        ]
    )
