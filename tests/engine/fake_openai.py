"""A fake OpenAI-compatible server for the engine's tests and benchmark (a real HTTP server).

Deterministic per conversation: first it asks for `lookup`, then `charge`, then answers. A task
`call NAME {json}` asks for that one tool call instead, then answers `done: <its result>`. Every
reply waits `--delay` seconds, like a real model. Prints its port on the first line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _call(name: str, arguments: str, done: int) -> dict[str, Any]:
    function = {"name": name, "arguments": arguments}
    call = {"id": f"call_{done}", "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _answer(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    task = next(m["content"] for m in messages if m["role"] == "user")
    results = [m["content"] for m in messages if m["role"] == "tool"]
    done = len(results)
    if task.startswith("call "):
        name, _, arguments = task.removeprefix("call ").partition(" ")
        if done == 0:
            return _answer(_call(name, arguments or "{}", 0), "tool_calls")
        return _answer({"role": "assistant", "content": f"done: {results[-1]}"}, "stop")
    if done < 2:
        name = "lookup" if done == 0 else "charge"
        call = {
            "id": f"call_{done}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps({"order": task})},
        }
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": f"charged {task}"}, "stop"
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        await asyncio.sleep(args.delay)
        return JSONResponse(reply(body["messages"]))

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
