"""A fake OpenAI-compatible server for the engine's tests and benchmark (a real HTTP server).

Deterministic per conversation: first it asks for `lookup`, then `charge`, then answers. A task
`call NAME {json}` asks for that one tool call instead, then answers `done: <its result>`. A
task `refuse-once ...` is refused (HTTP 400) the first time it is asked, then answered. Every
reply waits `--delay` seconds, like a real model. Prints its port on the first line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
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


_LOOKUPS = re.compile(r"\blookups=(\d+)")
"""A task with `lookups=N` looks up N times before it charges (longer runs for the benchmark)."""


def reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    task = next(m["content"] for m in messages if m["role"] == "user")
    results = [m["content"] for m in messages if m["role"] == "tool"]
    done = len(results)
    if task.startswith("call "):
        name, _, arguments = task.removeprefix("call ").partition(" ")
        if done == 0:
            return _answer(_call(name, arguments or "{}", 0), "tool_calls")
        return _answer({"role": "assistant", "content": f"done: {results[-1]}"}, "stop")
    lookups = int(match.group(1)) if (match := _LOOKUPS.search(task)) else 1
    if done <= lookups:
        name = "lookup" if done < lookups else "charge"
        # Each further lookup asks for another order: a repeated call would stop the run.
        order = f"{task}#{done}" if name == "lookup" and done else task
        return _answer(_call(name, json.dumps({"order": order}), done), "tool_calls")
    return _answer({"role": "assistant", "content": f"charged {task}"}, "stop")


def _chunks(answer: dict[str, Any]) -> Iterator[str]:
    """The same answer as a stream: one delta, the finish reason, the usage."""
    choice = answer["choices"][0]
    message = choice["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    base = {"id": "x", "object": "chat.completion.chunk", "model": "fake"}
    for chunk in (
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
        {**base, "choices": [], "usage": answer["usage"]},
    ):
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()

    refused: set[str] = set()

    async def completions(request: Request) -> Response:
        body = await request.json()
        await asyncio.sleep(args.delay)
        task = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if task.startswith("refuse-once") and task not in refused:
            refused.add(task)
            error = {"error": {"message": "refused once", "type": "invalid_request_error"}}
            return JSONResponse(error, status_code=400)
        answer = reply(body["messages"])
        if body.get("stream"):
            return StreamingResponse(_chunks(answer), media_type="text/event-stream")
        return JSONResponse(answer)

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
