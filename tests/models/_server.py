"""A real HTTP server on 127.0.0.1 that answers with scripted replies, for the adapters' tests.

It runs uvicorn in a background thread (its own event loop), so the client under test talks to it
over real sockets. Each test queues replies; each request pops one and is recorded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    raw: str | None = None
    sse: list[Any] | None = None
    """Items are dicts (sent as `data: {json}`), (event, dict) pairs, or raw `data:` strings."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


def _sse_lines(items: list[Any]) -> Iterator[str]:
    for item in items:
        if isinstance(item, tuple):
            yield f"event: {item[0]}\ndata: {json.dumps(item[1])}\n\n"
        elif isinstance(item, str):
            yield f"data: {item}\n\n"
        else:
            yield f"data: {json.dumps(item)}\n\n"


class ScriptedServer:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.refuse: Callable[[Any], Reply | None] | None = None
        """Answers a request by its body before the queue is consulted (a server's fixed rules,
        such as rejecting a parameter it does not know); None lets the queue answer."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST", "GET"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test HTTP server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    def reset(self) -> None:
        self.replies.clear()
        self.requests.clear()
        self.refuse = None

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        self.requests.append(
            Recorded(request.url.path, dict(request.headers), body, time.monotonic())
        )
        refusal = self.refuse(body) if self.refuse is not None else None
        if refusal is None and not self.replies:
            return Response("no scripted reply left", status_code=599)
        reply = refusal or self.replies.popleft()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.sse is not None:
            items = reply.sse

            async def gen() -> AsyncIterator[str]:
                for line in _sse_lines(items):
                    yield line
                    await asyncio.sleep(0)

            return StreamingResponse(
                gen(),
                status_code=reply.status,
                headers=reply.headers,
                media_type="text/event-stream",
            )
        if reply.raw is not None:
            return Response(
                reply.raw,
                status_code=reply.status,
                headers=reply.headers,
                media_type="application/json",
            )
        return Response(
            json.dumps(reply.json),
            status_code=reply.status,
            headers=reply.headers,
            media_type="application/json",
        )
