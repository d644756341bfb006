"""Human approvals (round trip, deny, expiry, already decided) and per-tenant quotas."""

from __future__ import annotations

from pathlib import Path

from mainspring.server._db import Database
from tests.server.harness import ThreadedServer, read_sse, text_of, wait_status
from tests.server.scenario import SECRET, TOOLS, scenario_model

DEPLOY = 'tool deploy {"target": "prod", "token": "@secret"}'


async def test_approval_round_trip(server: ThreadedServer, effects: Path) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        run_id = (await c.post("/v1/runs", json={"task": DEPLOY})).json()["id"]
        await wait_status(c, run_id, {"awaiting_approval"})
        assert text_of(effects) == ""  # nothing ran before the decision
        pending = (await c.get("/v1/approvals", params={"status": "pending"})).json()["approvals"]
        assert len(pending) == 1
        approval = pending[0]
        assert approval["tool"] == "deploy"
        assert approval["run_id"] == run_id
        assert approval["arguments"] == {"target": "prod", "token": "***"}  # secret redacted
        assert approval["principal"].startswith("acme/")
        decided = await c.post(
            f"/v1/approvals/{approval['id']}", json={"decision": "approve", "reason": "ok"}
        )
        assert decided.status_code == 200
        assert decided.json()["status"] == "approved"
        run = await wait_status(c, run_id, {"completed"})
        again = await c.post(f"/v1/approvals/{approval['id']}", json={"decision": "deny"})
        types = [t for _, t, _ in await read_sse(c, f"/v1/runs/{run_id}/events")]
    assert run["output"] == "done: deployed to prod"
    assert text_of(effects) == "deployed prod\n"
    assert again.status_code == 409
    assert types.index("approval_requested") < types.index("approval_decided")
    assert types.index("approval_decided") < types.index("tool_call_finished")
    database = server.state.keys.db
    assert isinstance(database, Database)
    dump = "\n".join(database.run_sync(lambda db: list(db.iterdump())))
    assert SECRET not in dump  # events and approvals hold the redacted arguments only


async def test_a_denied_call_does_not_run(server: ThreadedServer, effects: Path) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        run_id = (await c.post("/v1/runs", json={"task": DEPLOY})).json()["id"]
        await wait_status(c, run_id, {"awaiting_approval"})
        approval = (await c.get("/v1/approvals")).json()["approvals"][0]
        await c.post(f"/v1/approvals/{approval['id']}", json={"decision": "deny"})
        run = await wait_status(c, run_id, {"completed"})
    assert "declined" in run["output"]
    assert text_of(effects) == ""


async def test_an_expired_approval_is_denied_and_410(tmp_path: Path, effects: Path) -> None:
    server = ThreadedServer(
        tmp_path / "d", TOOLS, {"test:scenario": scenario_model()}, approval_timeout=0.5
    ).start()
    try:
        key = await server.key("acme")
        async with server.client(key) as c:
            run_id = (await c.post("/v1/runs", json={"task": DEPLOY})).json()["id"]
            run = await wait_status(c, run_id, {"completed"})
            approval = (await c.get("/v1/approvals")).json()["approvals"][0]
            late = await c.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"})
    finally:
        server.stop()
    assert approval["status"] == "expired"
    assert "declined" in run["output"]
    assert late.status_code == 410
    assert text_of(effects) == ""


async def test_decision_body_is_validated(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        run_id = (await c.post("/v1/runs", json={"task": DEPLOY})).json()["id"]
        await wait_status(c, run_id, {"awaiting_approval"})
        approval = (await c.get("/v1/approvals")).json()["approvals"][0]
        bad = await c.post(f"/v1/approvals/{approval['id']}", json={"decision": "maybe"})
        await c.post(f"/v1/runs/{run_id}/cancel")
    assert bad.status_code == 422
    assert "decision" in bad.json()["detail"]


async def test_runs_per_minute_quota_is_429_with_retry_after(tmp_path: Path, effects: Path) -> None:
    server = ThreadedServer(
        tmp_path / "d", TOOLS, {"test:scenario": scenario_model()}, quotas={"runs_per_minute": 2}
    ).start()
    try:
        acme, globex = await server.key("acme"), await server.key("globex")
        async with server.client(acme) as c, server.client(globex) as g:
            codes = [(await c.post("/v1/runs", json={"task": "x"})).status_code for _ in range(3)]
            refused = await c.post("/v1/runs", json={"task": "x"})
            other = await g.post("/v1/runs", json={"task": "x"})
            metrics_key = await server.key("ops", operator=True)
        async with server.client(metrics_key) as ops:
            text = (await ops.get("/metrics")).text
    finally:
        server.stop()
    assert codes == [202, 202, 429]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "2 runs a minute" in refused.json()["detail"]
    assert other.status_code == 202  # one tenant's quota is not another's
    assert 'mainspring_quota_rejections_total{quota="runs_per_minute"} 2.0' in text


async def test_concurrent_runs_quota(tmp_path: Path, effects: Path) -> None:
    server = ThreadedServer(
        tmp_path / "d", TOOLS, {"test:scenario": scenario_model()}, quotas={"concurrent_runs": 1}
    ).start()
    try:
        key = await server.key("acme")
        async with server.client(key) as c:
            first = (await c.post("/v1/runs", json={"task": DEPLOY})).json()["id"]
            await wait_status(c, first, {"awaiting_approval"})
            refused = await c.post("/v1/runs", json={"task": "x"})
            await c.post(f"/v1/runs/{first}/cancel")
            after = await c.post("/v1/runs", json={"task": "x"})
    finally:
        server.stop()
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert after.status_code == 202


async def test_daily_token_quota(tmp_path: Path, effects: Path) -> None:
    server = ThreadedServer(
        tmp_path / "d", TOOLS, {"test:scenario": scenario_model()}, quotas={"tokens_per_day": 50}
    ).start()
    try:
        key = await server.key("acme")
        other = await server.key("globex")
        async with server.client(key) as c:
            run_id = (await c.post("/v1/runs", json={"task": "hello there"})).json()["id"]
            capped = await wait_status(c, run_id, {"completed"})
            # what is left of the day caps the run: its prompt alone is over 50 tokens
            await server.state.keys.db.execute(
                "UPDATE runs SET input_tokens = 60 WHERE id = ?", (run_id,)
            )
            refused = await c.post("/v1/runs", json={"task": "again"})
        async with server.client(other) as g:
            allowed = await g.post("/v1/runs", json={"task": "again"})
    finally:
        server.stop()
    assert capped["stop_reason"] == "max_tokens"
    assert refused.status_code == 429
    assert "60 of its 50 tokens today" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86400
    assert allowed.status_code == 202


async def test_event_streams_per_tenant_are_limited(tmp_path: Path, effects: Path) -> None:
    server = ThreadedServer(
        tmp_path / "d", TOOLS, {"test:scenario": scenario_model()}, quotas={"event_streams": 1}
    ).start()
    try:
        key = await server.key("acme")
        async with server.client(key) as c:
            run_id = (await c.post("/v1/runs", json={"task": DEPLOY})).json()["id"]
            await wait_status(c, run_id, {"awaiting_approval"})
            async with c.stream("GET", f"/v1/runs/{run_id}/events") as first:
                assert first.status_code == 200
                second = await c.get(f"/v1/runs/{run_id}/events")
            await c.post(f"/v1/runs/{run_id}/cancel")
    finally:
        server.stop()
    assert second.status_code == 429
