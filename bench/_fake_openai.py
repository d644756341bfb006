"""A fake OpenAI-compatible server for load benchmarks: answers every request after a delay.

Stateless: a request whose conversation holds fewer than `STEPS - 1` tool results gets a tool
call; otherwise a final answer. Run: `python -m bench._fake_openai PORT DELAY_S STEPS`.
"""

from __future__ import annotations

import asyncio
import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

USAGE = {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}


def make_app(delay: float, steps: int) -> Starlette:
    async def completions(request: Request) -> Response:
        body = json.loads(await request.body())
        done = sum(1 for m in body["messages"] if m.get("role") == "tool")
        await asyncio.sleep(delay)
        if done < steps - 1:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{done}",
                        "type": "function",
                        "function": {"name": "noop", "arguments": f'{{"n": {done}}}'},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "done"}, "stop"
        payload = {
            "id": "x",
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": USAGE,
        }
        return Response(json.dumps(payload), media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


if __name__ == "__main__":
    port, delay, steps = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    uvicorn.run(
        make_app(delay, steps), host="127.0.0.1", port=port, log_level="error", backlog=4096
    )
