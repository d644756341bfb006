"""A fake OpenAI-compatible server for the agent benchmark: answers every request after a delay.

Run: python -m bench._fake_openai PORT DELAY_SECONDS. It replies with a tool call until the
conversation holds STEPS tool results, then with a final answer, so any client (mainspring or a
bare httpx loop) drives the same multi-step exchange.
"""

from __future__ import annotations

import asyncio
import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

STEPS = 5
DELAY = 0.05


async def completions(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    await asyncio.sleep(DELAY)
    done = sum(1 for m in body["messages"] if m["role"] == "tool")
    if done < STEPS:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{done}",
                    "type": "function",
                    "function": {"name": "add", "arguments": json.dumps({"a": done, "b": 1})},
                }
            ],
        }
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": f"done after {done} steps"}
        finish = "stop"
    return JSONResponse(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": body.get("model", "bench"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        }
    )


app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

if __name__ == "__main__":
    DELAY = float(sys.argv[2])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096)
