"""The service on a real uvicorn, on a free loopback port, in a background thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn

from mainspring.mcp import MCPServerConfig
from mainspring.models.base import Model
from mainspring.server import ServerSettings, create_app
from mainspring.server.state import ServiceState
from mainspring.tools import Tool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThreadedServer:
    """One app on uvicorn; `state` is its `ServiceState` (to create keys directly)."""

    def __init__(
        self,
        data_dir: Path,
        tools: list[Tool],
        models: dict[str, Model],
        mcp_servers: Sequence[MCPServerConfig] = (),
        **settings: Any,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = ServerSettings(
            data_dir=data_dir, port=self.port, model=next(iter(models)), **settings
        )
        self.app = create_app(self.settings, tools=tools, models=models, mcp_servers=mcp_servers)
        self.state: ServiceState = self.app.state.service
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)

    async def key(
        self, tenant: str, scopes: list[str] | None = None, *, operator: bool = False
    ) -> str:
        _, secret = await self.state.keys.create(tenant, scopes, operator=operator)
        return secret

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


def text_of(path: Path) -> str:
    """A small file's text (sync on purpose: the tests read their side-effects file)."""
    return path.read_text()


async def wait_status(
    client: httpx.AsyncClient, run_id: str, statuses: set[str], seconds: float = 30
) -> dict[str, Any]:
    """Poll a run until its status is one of `statuses`."""
    with anyio.fail_after(seconds):
        while True:
            response = await client.get(f"/v1/runs/{run_id}")
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            if body["status"] in statuses:
                return body
            await anyio.sleep(0.05)


async def read_sse(
    client: httpx.AsyncClient,
    path: str,
    *,
    last_id: int | None = None,
    stop_after: int | None = None,
) -> list[tuple[int, str, dict[str, Any]]]:
    """Read an event stream to its end (or `stop_after` events): (id, type, data) triples."""
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    events: list[tuple[int, str, dict[str, Any]]] = []
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for block in _blocks(response.aiter_lines()):
            fields = dict(line.split(": ", 1) for line in block if not line.startswith(":"))
            if "id" not in fields:
                continue
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
            if stop_after is not None and len(events) >= stop_after:
                break
    return events


async def _blocks(lines: AsyncIterator[str]) -> AsyncIterator[list[str]]:
    block: list[str] = []
    async for line in lines:
        if line == "":
            if block:
                yield block
            block = []
        else:
            block.append(line)
