"""Agent loop benchmarks.

1. The loop's own overhead per tool-calling step: a FunctionModel that answers instantly (with its
   usage given, so no tokenizer runs in the model double) and a trivial tool with every guard on.
2. 1,000 concurrent runs of 5 tool-calling steps each against a fake OpenAI-compatible server (a
   separate process) that answers after 50 ms, against a bare httpx + asyncio loop making the same
   requests to the same server. Each client runs in its own process for its peak RSS.

Run: `python -m bench agent`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).parent.parent


async def _loop_overhead(steps: int = 20, runs: int = 100) -> float:
    from mainspring.agent import Agent, Budget
    from mainspring.messages import Message, ModelResponse, ToolCall, Usage
    from mainspring.testing import FunctionModel
    from mainspring.testing.models import ModelRequest
    from mainspring.tools import ApprovalRequest, CallContext, Principal, tool

    def decide(request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if m.role == "tool")
        if done < steps:
            call = ToolCall(f"c{done}", "noop", {"x": done})
            return ModelResponse(Message("assistant", tool_calls=(call,)), usage=Usage(1, 1))
        return ModelResponse(Message("assistant", "done"), usage=Usage(1, 1))

    async def noop(x: int) -> int:
        """Return x."""
        return x

    guarded = tool(
        timeout=5.0,
        rate_limit="1000000000/s",
        cache_ttl=60,
        breaker=5,
        scopes={"bench"},
        requires_approval=True,
    )(noop)

    def approve(request: ApprovalRequest) -> bool:
        return True

    agent = Agent(
        FunctionModel(decide),
        [guarded],
        budget=Budget(max_iterations=steps + 1),
        principal=Principal("bench", frozenset({"bench"})),
        approver=approve,
    )
    _ = CallContext
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(runs):
            result = await agent.run("go")
            assert result.tool_calls == steps, result
        samples.append((time.perf_counter() - started) / (runs * (steps + 1)) * 1e6)
    return statistics.median(samples)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(mode: str, base_url: str, runs: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench._agent_client", mode, base_url, str(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _throughput(runs: int = 1000) -> dict[str, dict[str, float]]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench._fake_openai", str(port), "0.05"], cwd=ROOT
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(100):
            try:
                httpx.post(f"{base_url}/chat/completions", json={"messages": []}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        _client("sharded", base_url, 50)  # warm the server up
        return {
            mode: min((_client(mode, base_url, runs) for _ in range(2)), key=lambda r: r["seconds"])
            for mode in ("bare", "sharded", "mainspring")
        }
    finally:
        server.terminate()
        server.wait()


def _row(label: str, r: dict[str, float]) -> str:
    return f"| {label} | {r['seconds']:.2f} | {r['runs_per_s']:.0f} | {r['peak_rss_mb']:.0f} |"


def main() -> str:
    per_step = asyncio.run(_loop_overhead())
    runs = _throughput()
    ratio = runs["mainspring"]["runs_per_s"] / runs["sharded"]["runs_per_s"]
    return "\n".join(
        [
            "## Agent loop (`bench/agent.py`)",
            "",
            "Loop overhead per tool-calling step (FunctionModel answering instantly, trivial tool, "
            f"every guard on, 20 steps per run, median of 5 x 100 runs): **{per_step:.0f} µs**. "
            "Target: under 100 µs.",
            "",
            "1,000 concurrent runs of 5 tool-calling steps against a fake OpenAI-compatible server "
            "(separate process, answers after 50 ms); each client in its own process; best of 2:",
            "",
            "| client | wall s | runs/s | peak RSS MB |",
            "| --- | ---: | ---: | ---: |",
            _row("bare httpx + asyncio, one default client", runs["bare"]),
            _row(
                "bare httpx + asyncio, 8 pools x 8 connections (practical limit)", runs["sharded"]
            ),
            _row("mainspring Agent (OpenAI adapter, guarded tool)", runs["mainspring"]),
            "",
            f"mainspring reaches **{ratio:.2f}x** the practical limit's throughput "
            "(target: at least 0.8x). One default httpx client is far slower: httpcore rescans "
            "its whole pool on every request, so both the limit and the adapter use small pools.",
        ]
    )
