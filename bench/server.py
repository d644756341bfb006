"""The HTTP service under load, the server in its own process (uvicorn, one worker).

1. `POST /v1/runs` throughput and latency: 2,000 requests, 32 at a time, with an instant model;
   the accepted runs execute in the same process meanwhile (that is the real workload).
2. Memory per server-sent event stream: 500 concurrent streams on a run waiting for approval,
   measured as the server's RSS growth divided by the number of streams.
3. Approval to continue: from sending `POST /v1/approvals/{id}` to the run's `tool_call_finished`
   event arriving on its event stream.

Run: `python -m bench server`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).parent.parent


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _key(data: Path) -> str:
    from mainspring.server import KeyStore
    from mainspring.server._db import Database

    db = Database(data / "server.db")
    _, secret = await KeyStore(db).create("bench")
    db.close()
    return secret


async def _wait(c: httpx.AsyncClient, run_id: str, status: str) -> None:
    for _ in range(10_000):  # polling is what an API client without a stream does
        if (await c.get(f"/v1/runs/{run_id}")).json()["status"] == status:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{run_id} never reached {status}")


async def _posts(c: httpx.AsyncClient, total: int = 2000, concurrency: int = 32) -> str:
    latencies: list[float] = []
    pending = iter(range(total))

    async def worker() -> None:
        for i in pending:
            start = time.perf_counter()
            response = await c.post("/v1/runs", json={"task": f"task {i}"})
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 202, response.text

    for _ in range(50):  # warm up
        await c.post("/v1/runs", json={"task": "warm"})
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return (
        f"| `POST /v1/runs` ({total}, {concurrency} concurrent) | {total / elapsed:,.0f} req/s | "
        f"p50 {_pct(ms, 50):.1f} ms | p99 {_pct(ms, 99):.1f} ms |"
    )


async def _streams(c: httpx.AsyncClient, pid: int, count: int = 500) -> str:
    run_id = (await c.post("/v1/runs", json={"task": "deploy sse"})).json()["id"]
    await _wait(c, run_id, "awaiting_approval")
    await asyncio.sleep(1.0)
    before = _rss_mib(pid)
    opened = anyio.Event()
    connected = 0
    stop = anyio.Event()

    async def follow() -> None:
        nonlocal connected
        async with c.stream("GET", f"/v1/runs/{run_id}/events") as response:
            assert response.status_code == 200
            async for _ in response.aiter_lines():
                connected += 1
                if connected == count:
                    opened.set()
                break
            await stop.wait()

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(follow)
        with anyio.fail_after(120):
            await opened.wait()
        await asyncio.sleep(2.0)
        after = _rss_mib(pid)
        stop.set()
        group.cancel_scope.cancel()
    per_stream = (after - before) * 1024 / count
    return (
        f"| {count} concurrent event streams | server RSS {before:.0f} -> {after:.0f} MiB | "
        f"{per_stream:.0f} KiB per stream | |"
    )


async def _approval_latency(c: httpx.AsyncClient, rounds: int = 30) -> str:
    latencies: list[float] = []
    for i in range(rounds):
        run_id = (await c.post("/v1/runs", json={"task": f"deploy t{i}"})).json()["id"]
        await _wait(c, run_id, "awaiting_approval")
        approval = (await c.get("/v1/approvals", params={"run_id": run_id})).json()["approvals"][0]
        async with c.stream("GET", f"/v1/runs/{run_id}/events") as response:
            lines = response.aiter_lines()
            async for line in lines:
                if line == "event: approval_requested":
                    break
            start = time.perf_counter()
            await c.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"})
            async for line in lines:
                if line == "event: tool_call_finished":
                    latencies.append(time.perf_counter() - start)
                    break
    ms = [x * 1000 for x in latencies]
    return (
        f"| approval -> `tool_call_finished` on the stream ({rounds} runs) | | "
        f"p50 {_pct(ms, 50):.1f} ms | p99 {_pct(ms, 99):.1f} ms |"
    )


async def _client(data: Path, port: int) -> httpx.AsyncClient:
    key = await _key(data)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=120,
    )


async def _measure(which: str, data: Path, port: int, pid: int) -> str:
    async with await _client(data, port) as c:
        if which == "posts":
            return await _posts(c)
        if which == "streams":
            return await _streams(c, pid)
        return await _approval_latency(c)


def _with_server(which: str) -> str:
    """One measurement against a fresh server process (memory figures start from a clean heap)."""
    with tempfile.TemporaryDirectory() as tmp:
        data, port = Path(tmp), _port()
        asyncio.run(_key(data))  # creates the database before the server opens it
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
        command = [sys.executable, "-m", "bench._server_app", str(data), str(port)]
        server = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the service did not start") from None
                    time.sleep(0.2)
            return asyncio.run(_measure(which, data, port, server.pid))
        finally:
            server.terminate()
            server.wait(30)


def main() -> str:
    load = os.getloadavg()[0]
    rows = [_with_server(which) for which in ("posts", "streams", "approval")]
    return "\n".join(
        [
            "## Service (`bench/server.py`)",
            "",
            "The service in its own process (uvicorn, one worker, SQLite under a temp dir), an",
            "instant model, driven by httpx from another process over loopback; a fresh server",
            f"process for each row. Load average when it started: {load:.1f} (shared machine).",
            "The accepted runs execute in the same process while the POSTs arrive, so the POST",
            "figures include the cost of running them.",
            "",
            "| measurement | rate / memory | p50 | p99 |",
            "| --- | --- | --- | --- |",
            *rows,
        ]
    )
