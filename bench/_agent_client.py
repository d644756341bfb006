"""One side of the agent throughput benchmark, in its own process so its peak RSS is its own.

Run: python -m bench._agent_client (mainspring|sharded|bare) BASE_URL RUNS.
Prints a JSON line with the wall time, runs per second and peak RSS.
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


class Pools:
    """`count` small httpx clients used in turn, each behind a semaphore of its size.

    One big httpx pool rescans all its connections on every request (milliseconds of CPU each
    at this concurrency); small pools are the practical limit for any httpx client, and the
    same pooling the OpenAI adapter uses.
    """

    def __init__(self, count: int, size: int) -> None:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self.clients = [httpx.AsyncClient(limits=limits, timeout=120) for _ in range(count)]
        self.gates = [asyncio.Semaphore(size) for _ in range(count)]
        self.turn = 0

    async def post(self, url: str, body: dict[str, object]) -> httpx.Response:
        self.turn = (self.turn + 1) % len(self.clients)
        async with self.gates[self.turn]:
            return await self.clients[self.turn].post(url, json=body)


async def bare_run(client: httpx.AsyncClient | Pools, base_url: str) -> str:
    """The same requests with no framework at all."""
    messages: list[dict[str, object]] = [{"role": "user", "content": "add things"}]
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    while True:
        body = {"model": "bench", "messages": messages, "tools": tools}
        url = f"{base_url}/chat/completions"
        if isinstance(client, Pools):
            response = await client.post(url, body)
        else:
            response = await client.post(url, json=body)
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


async def sharded(base_url: str, runs: int) -> list[str]:
    pools = Pools(8, 8)
    try:
        return await asyncio.gather(*(bare_run(pools, base_url) for _ in range(runs)))
    finally:
        for client in pools.clients:
            await client.aclose()


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
    chosen = {"bare": bare, "sharded": sharded, "mainspring": framework}[mode]
    outputs = asyncio.run(chosen(base_url, runs))
    elapsed = time.perf_counter() - started
    assert len(outputs) == runs and outputs[0] == "done after 5 steps", outputs[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "runs_per_s": runs / elapsed, "peak_rss_mb": peak_mb}))


if __name__ == "__main__":
    main()
