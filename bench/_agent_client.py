"""One side of the agent throughput benchmark, in its own process so its peak RSS is its own.

Run: python -m bench._agent_client (mainspring|bare) BASE_URL RUNS. Prints a JSON line with the
wall time, runs per second and peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import httpx


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def bare_run(client: httpx.AsyncClient, base_url: str) -> str:
    """The practical limit: the same requests with no framework at all."""
    messages: list[dict[str, object]] = [{"role": "user", "content": "add things"}]
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    while True:
        response = await client.post(
            f"{base_url}/chat/completions",
            json={"model": "bench", "messages": messages, "tools": tools},
        )
        message = response.json()["choices"][0]["message"]
        messages.append(message)
        if not message.get("tool_calls"):
            return str(message["content"])
        for call in message["tool_calls"]:
            args = json.loads(call["function"]["arguments"])
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": str(add(**args))}
            )


async def bare(base_url: str, runs: int) -> list[str]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=None), timeout=120) as c:
        return await asyncio.gather(*(bare_run(c, base_url) for _ in range(runs)))


async def framework(base_url: str, runs: int) -> list[str]:
    from mainspring.agent import Agent, Budget
    from mainspring.models.base import FREE
    from mainspring.models.openai import OpenAIModel
    from mainspring.tools import tool

    model = OpenAIModel("bench", api_key="none", base_url=base_url, pricing=FREE)
    # All guards on for the tool: scopes are left out (the principal is anonymous).
    guarded = tool(timeout=5.0, rate_limit="1000000/s", cache_ttl=60, breaker=5)(add)
    agent = Agent(model, [guarded], budget=Budget(max_iterations=10))
    results = await asyncio.gather(*(agent.run("add things") for _ in range(runs)))
    assert all(r.stop_reason == "final_answer" for r in results), results[0]
    return [r.output for r in results]


def main() -> None:
    mode, base_url, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    started = time.perf_counter()
    outputs = asyncio.run(bare(base_url, runs) if mode == "bare" else framework(base_url, runs))
    elapsed = time.perf_counter() - started
    assert len(outputs) == runs and outputs[0] == "done after 5 steps", outputs[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "runs_per_s": runs / elapsed, "peak_rss_mb": peak_mb}))


if __name__ == "__main__":
    main()
