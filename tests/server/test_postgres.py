"""The service on PostgreSQL: its tables, runs and audit log in one database (replicas)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mainspring.server import KeyStore
from mainspring.server._postgres import PostgresDatabase
from tests.conftest import service_unavailable
from tests.server.harness import ThreadedServer, read_sse, wait_status
from tests.server.scenario import TOOLS, scenario_model

POSTGRES_URL = os.environ.get(
    "MAINSPRING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = f"ms_srv_{uuid.uuid4().hex[:10]}"  # unique: parallel test runs share the database
    try:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True)
    except Exception as exc:
        service_unavailable("PostgreSQL at " + POSTGRES_URL, exc)
    try:
        yield name
    finally:
        for suffix in ("", "_runs", "_audit"):
            await conn.execute(f"DROP SCHEMA IF EXISTS {name}{suffix} CASCADE")
        await conn.close()


async def test_the_service_on_postgres(tmp_path: Path, effects: Path, schema: str) -> None:
    server = ThreadedServer(
        tmp_path / "d",
        TOOLS,
        {"test:scenario": scenario_model()},
        database_url=POSTGRES_URL,
        database_schema=schema,
    ).start()
    # keys made through a connection of this test's own event loop
    keys = KeyStore(PostgresDatabase(POSTGRES_URL, schema=schema))
    try:
        _, key = await keys.create("acme")
        _, other = await keys.create("globex")
        async with server.client(key) as c:
            task = 'tool echo {"text": "pg"}; tool deploy {"target": "prod", "token": "@secret"}'
            run_id = (await c.post("/v1/runs", json={"task": task})).json()["id"]
            await wait_status(c, run_id, {"awaiting_approval"})
            approval = (await c.get("/v1/approvals")).json()["approvals"][0]
            await c.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"})
            run = await wait_status(c, run_id, {"completed"})
            events = await read_sse(c, f"/v1/runs/{run_id}/events")
            listed = (await c.get("/v1/runs", params={"limit": 1})).json()
            audit = (await c.get("/v1/audit", params={"run_id": run_id})).json()["records"]
            verify = (await c.get("/v1/audit/verify")).json()
        async with server.client(other) as g:
            hidden = await g.get(f"/v1/runs/{run_id}")
    finally:
        await keys.db.aclose()
        server.stop()
    assert run["output"] == "done: deployed to prod"
    assert events[-1][1] == "run_finished"
    assert [r["id"] for r in listed["runs"]] == [run_id]
    assert {r["name"] for r in audit} >= {"echo", "deploy"}
    assert verify["ok"] is True
    assert hidden.status_code == 404
