"""The service on the engine: runs it accepts are executed by a `mainspring worker --service`.

A real worker subprocess, the service on uvicorn, the fake OpenAI-compatible model server and
one fresh PostgreSQL database for the engine and the service's tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from mainspring.cli.app import app
from mainspring.cli.run import build_model
from mainspring.engine import EngineClient, EngineSettings
from mainspring.errors import ConfigurationError
from mainspring.runs import PostgresRunStore
from mainspring.server import KeyStore, ServerSettings, create_app
from mainspring.server._engine import SERVICE_QUEUE, SERVICE_WORKFLOW
from mainspring.server._postgres import PostgresDatabase
from mainspring.tools.builtin import builtin_tools
from tests.engine import conftest as engine_fixtures
from tests.engine.conftest import Workers
from tests.engine.engine_tools import TOOLS
from tests.engine.test_workers import _effects, _naps, _stored_status_is, _until
from tests.server.harness import ThreadedServer, read_sse, wait_status

engine_db = engine_fixtures.engine_db
model_url = engine_fixtures.model_url
workers = engine_fixtures.workers
SCHEMA = "svc"
runner = CliRunner()


@pytest.fixture
def service(workers: Workers, tmp_path: Path) -> ThreadedServer:
    # The worker reads the same settings as the service: its tables, data dir (sealing key).
    workers.env = {
        "MAINSPRING_SERVER_DATABASE_URL": workers.db,
        "MAINSPRING_SERVER_DATABASE_SCHEMA": SCHEMA,
    }
    workers.start("pw1")  # a plain worker on the same engine: it must not take service runs
    workers.extra = ["--service"]
    workers.start("sw1")
    server = ThreadedServer(
        tmp_path / "data",
        [*builtin_tools(), *TOOLS],
        {"openai:fake": build_model("openai:fake", workers.model_url)},
        database_url=workers.db,
        database_schema=SCHEMA,
        engine_url=workers.db,
    )
    return server.start()


async def _keys(db: str) -> tuple[str, str]:
    keys = KeyStore(PostgresDatabase(db, schema=SCHEMA))
    try:
        return (await keys.create("acme"))[1], (await keys.create("globex"))[1]
    finally:
        await keys.db.aclose()


async def _engine_view(db: str, run_id: str) -> Any:
    client = EngineClient(EngineSettings(db, queue=SERVICE_QUEUE))
    try:
        return await client.status(run_id)
    finally:
        client.close()


async def _hidden_from(other: httpx.AsyncClient, run_id: str) -> list[int]:
    return [
        (await other.get(f"/v1/runs/{run_id}")).status_code,
        (await other.get(f"/v1/runs/{run_id}/events")).status_code,
        (await other.post(f"/v1/runs/{run_id}/cancel")).status_code,
    ]


async def test_a_worker_executes_the_service_runs(
    service: ThreadedServer, workers: Workers
) -> None:
    acme, globex = await _keys(workers.db)
    try:
        async with service.client(acme) as a, service.client(globex) as g:
            accepted = await a.post("/v1/runs", json={"task": "order-1"})
            assert accepted.status_code == 202, accepted.text
            run_id = accepted.json()["id"]
            events = await read_sse(a, f"/v1/runs/{run_id}/events")  # live, from another process
            run = await wait_status(a, run_id, {"completed", "failed"}, seconds=60)
            listed = (await a.get("/v1/runs")).json()["runs"]
            hidden = await _hidden_from(g, run_id)
            others = (await g.get("/v1/runs")).json()["runs"]
            forged = await _forge(workers.db, run_id, "globex")
            plain = await _plain_run(workers.db)
            failed, resumed = await _failed_then_resumed(a)
    finally:
        service.stop()
    assert run["status"] == "completed", (run["error"], workers.logs())
    assert run["output"] == "charged order-1" and run["tool_calls"] == 2
    types = [kind for _, kind, _ in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("tool_call_finished") == 2
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    assert [r["id"] for r in listed] == [run_id]
    assert hidden == [404, 404, 404] and others == []
    engine = await _engine_view(workers.db, run_id)
    assert (engine.status, engine.executor_id) == ("completed", "sw1")  # not the service
    assert _effects(workers.db)[("charge", "order-1")] == 1
    assert forged == {"run_id": run_id, "status": "refused"}  # another tenant's submission
    assert (plain.status, plain.executor_id) == ("completed", "pw1")
    assert failed["status"] == "failed" and "400" in (failed["error"] or ""), failed
    assert resumed["status"] == "completed" and resumed["output"] == "charged refuse-once r"


async def _failed_then_resumed(client: httpx.AsyncClient) -> tuple[Any, Any]:
    """A run the model refuses once fails; resumed through the API, a worker finishes it."""
    run_id = (await client.post("/v1/runs", json={"task": "refuse-once r"})).json()["id"]
    failed = await wait_status(client, run_id, {"failed", "completed"}, seconds=60)
    again = await client.post(f"/v1/runs/{run_id}/resume")
    assert again.status_code == 202, again.text
    return failed, await wait_status(client, run_id, {"completed", "failed"}, seconds=60)


async def _plain_run(db: str) -> Any:
    client = EngineClient(EngineSettings(db))
    try:
        return await client.wait(await client.submit("order-p"), seconds=30)
    finally:
        client.close()


async def _forge(db: str, run_id: str, tenant: str) -> Any:
    """Queue a run of one tenant under another tenant's name, straight to the engine."""
    client = EngineClient(EngineSettings(db, queue=SERVICE_QUEUE))
    try:
        await client.enqueue(SERVICE_WORKFLOW, f"{run_id}.forged", run_id, tenant, True)
        return (await client.wait(f"{run_id}.forged", seconds=30)).outcome
    finally:
        client.close()


async def test_approvals_and_cancel_reach_the_worker(
    service: ThreadedServer, workers: Workers
) -> None:
    acme, globex = await _keys(workers.db)
    store = PostgresRunStore(workers.db, schema=f"{SCHEMA}_runs")
    try:
        async with service.client(acme) as a, service.client(globex) as g:
            task = 'call refund {"order": "o-2"}'
            run_id = (await a.post("/v1/runs", json={"task": task})).json()["id"]
            await wait_status(a, run_id, {"awaiting_approval"}, seconds=60)
            approval = (await a.get("/v1/approvals")).json()["approvals"][0]
            assert (await g.get("/v1/approvals")).json()["approvals"] == []
            stolen = await g.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"})
            await a.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"})
            refunded = await wait_status(a, run_id, {"completed", "failed"}, seconds=30)

            nap = (await a.post("/v1/runs", json={"task": 'call nap {"seconds": 60}'})).json()
            await _until(lambda: _naps(store, nap["id"]), 60)  # its tool call is under way
            cancelled = (await a.post(f"/v1/runs/{nap['id']}/cancel")).json()
            events = await read_sse(a, f"/v1/runs/{nap['id']}/events")
            # the worker stopped the run: its record ends cancelled, not still napping
            await _until(lambda: _stored_status_is(store, nap["id"], "cancelled"), 10)
    finally:
        service.stop()
        await store.aclose()
    assert stolen.status_code == 404
    assert refunded["output"] == "done: refunded o-2", workers.logs()
    assert cancelled["status"] == "cancelled" and events[-1][1] == "run_cancelled"
    assert (await _engine_view(workers.db, nap["id"])).status == "cancelled"
    assert _effects(workers.db)[("refund", "o-2")] == 1


def test_the_engine_needs_the_shared_postgres_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("MAINSPRING_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")  # no model is called
    engine = "postgresql://postgres@127.0.0.1:5432/test"
    served = runner.invoke(app, ["serve", "--model", "openai:x", "--engine-url", engine])
    worked = runner.invoke(app, ["worker", "--service", "--db", engine, "--model", "openai:x"])
    with pytest.raises(ConfigurationError, match="database_url"):
        create_app(ServerSettings(data_dir=tmp_path, engine_url=engine))
    for result in (served, worked):
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.replace("│", " ").split())  # the error box wraps lines
        assert "needs database_url set to a PostgreSQL URL" in said, said
