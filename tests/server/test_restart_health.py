"""A server killed mid-run and started again; health, readiness and metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx

from mainspring.server import KeyStore
from mainspring.server._db import Database
from tests.server.harness import ThreadedServer, free_port, read_sse, text_of, wait_status
from tests.server.scenario import EFFECTS_VARIABLE

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def server_process(data: Path, port: int, effects: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        EFFECTS_VARIABLE: str(effects),
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.server.serve_scenario", str(data), str(port)],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr and proc.stderr.read()!r}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()


async def test_a_killed_server_resumes_its_runs_without_repeating_side_effects(
    tmp_path: Path, effects: Path
) -> None:
    data, port = tmp_path / "data", free_port()
    db = Database(data / "server.db")
    _, key = await KeyStore(db).create("acme")
    db.close()
    task = 'tool record {"note": "once"}; tool deploy {"target": "prod", "token": "@secret"}'
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    with server_process(data, port, effects) as proc:
        async with httpx.AsyncClient(base_url=url, headers=headers) as c:
            run_id = (await c.post("/v1/runs", json={"task": task})).json()["id"]
            await wait_status(c, run_id, {"awaiting_approval"})
            before = await read_sse(c, f"/v1/runs/{run_id}/events", stop_after=8)
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: a crash
    assert text_of(effects) == "once\n"
    with server_process(data, port, effects):
        async with httpx.AsyncClient(base_url=url, headers=headers) as c:
            # the wait survived the restart: the same approval is still pending
            pending = (await c.get("/v1/approvals", params={"status": "pending"})).json()
            assert len(pending["approvals"]) == 1
            approval_id = pending["approvals"][0]["id"]
            await wait_status(c, run_id, {"awaiting_approval"})
            decided = await c.post(f"/v1/approvals/{approval_id}", json={"decision": "approve"})
            assert decided.status_code == 200
            run = await wait_status(c, run_id, {"completed", "failed", "needs_attention"})
            after = await read_sse(c, f"/v1/runs/{run_id}/events", last_id=before[-1][0])
            approvals = (await c.get("/v1/approvals", params={"run_id": run_id})).json()
    assert run["status"] == "completed", run
    assert run["output"] == "done: deployed to prod"
    assert text_of(effects) == "once\ndeployed prod\n"  # record ran once
    assert [a["status"] for a in approvals["approvals"]] == ["approved"]
    types = [t for _, t, _ in after]
    assert "run_resumed" in types and types[-1] == "run_finished"
    assert after[0][0] == before[-1][0] + 1  # the stream continues: no gap, no repeat


async def test_health_readiness_and_metrics(server: ThreadedServer) -> None:
    key = await server.key("acme")
    operator = await server.key("ops", operator=True)
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        health = await anonymous.get("/healthz")
        ready = await anonymous.get("/readyz")
        closed = await anonymous.get("/metrics")
    async with server.client(key) as c:
        run_id = (await c.post("/v1/runs", json={"task": 'tool echo {"text": "m"}'})).json()["id"]
        await wait_status(c, run_id, {"completed"})
        tenant_metrics = await c.get("/metrics")
        verify = (await c.get("/v1/audit/verify")).json()
    async with server.client(operator) as ops:
        text = (await ops.get("/metrics")).text
        op_verify = (await ops.get("/v1/audit/verify")).json()
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert closed.status_code == 401 and tenant_metrics.status_code == 401
    assert verify == {"ok": True, "problem": None}
    assert op_verify["ok"] and op_verify["records"] >= 3
    assert 'mainspring_runs_total{status="completed"} 1.0' in text
    assert 'mainspring_tool_calls_total{outcome="ok",tool="echo"} 1.0' in text
    assert "mainspring_model_call_duration_seconds_bucket" in text
    assert 'mainspring_tokens_total{direction="input",model="test:scenario"}' in text
    assert "mainspring_queue_depth 0.0" in text
    assert "acme" not in text  # no tenant names in labels


async def test_public_metrics_need_no_key(tmp_path: Path, effects: Path) -> None:
    from tests.server.scenario import TOOLS, scenario_model

    server = ThreadedServer(
        tmp_path / "d", TOOLS, {"test:scenario": scenario_model()}, metrics_public=True
    ).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as anonymous:
            response = await anonymous.get("/metrics")
    finally:
        server.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    _ = anyio
