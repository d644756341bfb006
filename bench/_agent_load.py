"""One side of the concurrency benchmark, in its own process so its peak RSS is its own.

`python -m bench._agent_load agent|bare URL RUNS STEPS` prints one JSON line: seconds, runs
completed, peak RSS in MiB.
"""

from __future__ import annotations

import asyncio
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
def noop(n: int) -> str:
    """Do nothing.

    Args:
        n: any number.
    """
    return "ok"


TASK = "Call noop until told to stop."


async def agent_side(url: str, runs: int, steps: int) -> int:
    model = OpenAIModel("fake", base_url=url, timeout=120)
    agent = Agent(model, tools=[noop], budget=Budget(max_iterations=steps + 1))
    results = await asyncio.gather(*(agent.run(TASK) for _ in range(runs)))
    await model.aclose()
    return sum(1 for r in results if r.stop_reason == "final_answer" and len(r.steps) == steps)


async def bare_side(url: str, runs: int, steps: int) -> int:
    """The practical limit: the same requests with httpx and asyncio, nothing else."""
    schema = noop.schema("openai")

    async def one(client: httpx.AsyncClient) -> bool:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": TASK},
        ]
        for _ in range(steps):
            response = await client.post(
                f"{url}/chat/completions",
                json={"model": "fake", "messages": messages, "tools": [schema]},
            )
            message = response.json()["choices"][0]["message"]
            if not message.get("tool_calls"):
                return True
            messages.append(message)
            for call in message["tool_calls"]:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": "ok"})
        return False

    # httpx's default pool (100 connections), as OpenAIModel uses.
    async with httpx.AsyncClient(timeout=120) as client:
        results = await asyncio.gather(*(one(client) for _ in range(runs)))
    return sum(results)


def main() -> None:
    side, url, runs, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start = time.perf_counter()
    work = agent_side if side == "agent" else bare_side
    completed = asyncio.run(work(url, runs, steps))
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "completed": completed, "rss_mib": rss}))


if __name__ == "__main__":
    main()
