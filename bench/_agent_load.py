"""One side of the concurrency benchmark, in its own process so its peak RSS is its own.

`python -m bench._agent_load agent|bare|bare-sharded URL RUNS STEPS` prints one JSON line:
seconds, runs completed, peak RSS in MiB.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import resource
import sys
import time
from typing import Any

import httpx

from mainspring.agent import Agent, Budget
from mainspring.models.openai import OpenAIModel
from mainspring.tools import tool


@tool
async def noop(n: int) -> str:
    """Do nothing.

    Args:
        n: any number.
    """
    return "ok"


TASK = "Call noop until told to stop."


async def agent_side(url: str, runs: int, steps: int) -> int:
    model = OpenAIModel("fake", base_url=url, timeout=600)
    agent = Agent(model, tools=[noop], budget=Budget(max_iterations=steps + 1))
    results = await asyncio.gather(*(agent.run(TASK) for _ in range(runs)))
    await model.aclose()
    return sum(1 for r in results if r.stop_reason == "final_answer" and len(r.steps) == steps)


async def bare_side(url: str, runs: int, steps: int, sharded: bool) -> int:
    """The same requests with httpx and asyncio, nothing else.

    `sharded` spreads them over 8 pools of 8 connections behind limiters, as `OpenAIModel`
    does; otherwise one default httpx client (100 connections) takes them all.
    """
    schema = noop.schema("openai")
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    tls = httpx.create_ssl_context()
    clients = [httpx.AsyncClient(limits=limits, timeout=600, verify=tls) for _ in range(8)]
    limiters = [asyncio.Semaphore(8) for _ in range(8)]
    single = httpx.AsyncClient(timeout=600)
    turn = itertools.count()

    async def post(body: dict[str, Any]) -> httpx.Response:
        if not sharded:
            return await single.post(f"{url}/chat/completions", json=body)
        index = next(turn) % 8
        async with limiters[index]:
            return await clients[index].post(f"{url}/chat/completions", json=body)

    async def one() -> bool:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": TASK},
        ]
        for _ in range(steps):
            response = await post({"model": "fake", "messages": messages, "tools": [schema]})
            message = response.json()["choices"][0]["message"]
            if not message.get("tool_calls"):
                return True
            messages.append(message)
            for call in message["tool_calls"]:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": "ok"})
        return False

    results = await asyncio.gather(*(one() for _ in range(runs)))
    for client in [single, *clients]:
        await client.aclose()
    return sum(results)


def main() -> None:
    side, url, runs, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start = time.perf_counter()
    if side == "agent":
        completed = asyncio.run(agent_side(url, runs, steps))
    else:
        completed = asyncio.run(bare_side(url, runs, steps, sharded=side == "bare-sharded"))
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "completed": completed, "rss_mib": rss}))


if __name__ == "__main__":
    main()
