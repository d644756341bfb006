"""Keys and tenants: no key, a wrong key, a revoked key, and another tenant's ids are refused."""

from __future__ import annotations

import httpx
import pytest

from mainspring.server._db import Database
from tests.server.harness import ThreadedServer, wait_status


async def test_no_wrong_or_revoked_key_is_401(server: ThreadedServer) -> None:
    good = await server.key("acme")
    record, revoked = await server.state.keys.create("acme")
    assert await server.state.keys.revoke(record.id)
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        missing = await anonymous.get("/v1/runs")
        basic = await anonymous.get("/v1/runs", headers={"Authorization": "Basic abc"})
    async with server.client("ms_" + "x" * 43) as wrong, server.client(revoked) as old:
        bad = await wrong.get("/v1/runs")
        gone = await old.get("/v1/runs")
    async with server.client(good) as c:
        ok = await c.get("/v1/runs")
    for response in (missing, basic, bad, gone):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert "revoked" in gone.json()["detail"]
    assert ok.status_code == 200


async def test_keys_are_random_and_stored_only_as_hashes(server: ThreadedServer) -> None:
    record, secret = await server.state.keys.create("acme", ["a", "b"])
    _, other = await server.state.keys.create("acme")
    assert secret.startswith("ms_") and len(secret) >= 3 + 43
    assert secret != other
    database = server.state.keys.db
    assert isinstance(database, Database)
    dump = "\n".join(database.run_sync(lambda db: list(db.iterdump())))
    assert secret not in dump and secret[3:] not in dump
    caller = await server.state.keys.verify(secret)
    assert caller is not None and caller.tenant == "acme"
    assert caller.principal.scopes == frozenset({"a", "b"})
    principal = await server.state.keys.verify_principal(secret)
    assert principal == caller.principal
    assert await server.state.keys.verify_principal(secret + "x") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/runs/{run}"),
        ("GET", "/v1/runs/{run}/events"),
        ("POST", "/v1/runs/{run}/cancel"),
        ("POST", "/v1/runs/{run}/resume"),
        ("GET", "/v1/audit?run_id={run}"),
        ("GET", "/v1/approvals/{approval}"),
        ("POST", "/v1/approvals/{approval}"),
    ],
)
async def test_another_tenants_ids_are_404(server: ThreadedServer, method: str, path: str) -> None:
    owner, intruder = await server.key("acme"), await server.key("globex")
    async with server.client(owner) as c:
        task = 'tool deploy {"target": "prod", "token": "t"}'
        run_id = (await c.post("/v1/runs", json={"task": task})).json()["id"]
        await wait_status(c, run_id, {"awaiting_approval"})
        approval_id = (await c.get("/v1/approvals")).json()["approvals"][0]["id"]
    url = path.format(run=run_id, approval=approval_id)
    async with server.client(intruder) as other:
        response = await other.request(method, url, json={"decision": "approve"})
        missing = await other.request(
            method,
            path.format(run="run_nothing", approval="apr_nothing"),
            json={"decision": "approve"},
        )
        listed_runs = (await other.get("/v1/runs")).json()["runs"]
        listed_approvals = (await other.get("/v1/approvals")).json()["approvals"]
        audit = (await other.get("/v1/audit")).json()["records"]
    assert response.status_code == 404, response.text
    # the same answer whether the id exists elsewhere or nowhere: nothing is confirmed
    assert missing.status_code == 404
    assert response.json()["detail"].replace(run_id, "X").replace(
        approval_id, "X"
    ) == missing.json()["detail"].replace("run_nothing", "X").replace("apr_nothing", "X")
    assert listed_runs == [] and listed_approvals == [] and audit == []
    async with server.client(owner) as c:
        status = (await c.get(f"/v1/runs/{run_id}")).json()["status"]
        pending = (await c.get("/v1/approvals", params={"status": "pending"})).json()
    assert status == "awaiting_approval"  # the intruder changed nothing
    assert len(pending["approvals"]) == 1


async def test_tools_and_audit_are_per_tenant(server: ThreadedServer) -> None:
    acme, globex = await server.key("acme"), await server.key("globex")
    async with server.client(acme) as c:
        run_id = (await c.post("/v1/runs", json={"task": 'tool echo {"text": "1"}'})).json()["id"]
        await wait_status(c, run_id, {"completed"})
        mine = {t["name"]: t for t in (await c.get("/v1/tools")).json()["tools"]}
        records = (await c.get("/v1/audit", params={"run_id": run_id})).json()["records"]
    async with server.client(globex) as g:
        theirs = {t["name"]: t for t in (await g.get("/v1/tools")).json()["tools"]}
        events = await g.get(f"/v1/runs/{run_id}/events")
    assert mine["echo"]["calls"] == 1 and mine["echo"]["p50_ms"] is not None
    assert theirs["echo"]["calls"] == 0
    assert "wipe" not in mine  # needs the admin scope this key lacks
    assert {r["kind"] for r in records} == {"tool_call", "model_call"}
    assert all(r["run_id"] == run_id for r in records)
    assert events.status_code == 404


async def test_scoped_keys_see_and_use_scoped_tools(server: ThreadedServer) -> None:
    admin = await server.key("acme", ["admin"])
    async with server.client(admin) as c:
        names = [t["name"] for t in (await c.get("/v1/tools")).json()["tools"]]
        run_id = (
            await c.post("/v1/runs", json={"task": "tool wipe {}", "tools": ["wipe"]})
        ).json()["id"]
        run = await wait_status(c, run_id, {"completed"})
    assert "wipe" in names
    assert run["output"] == "done: wiped"
