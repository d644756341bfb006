"""Run leases: a replica takes over the runs of one that stopped, once their lease lapsed."""

from __future__ import annotations

from pathlib import Path

from tests.server.harness import ThreadedServer, text_of, wait_status
from tests.server.scenario import TOOLS, scenario_model

TASK = 'tool record {"note": "a"}; tool deploy {"target": "prod", "token": "@secret"}'


async def test_another_replica_takes_over_a_lapsed_run(tmp_path: Path, effects: Path) -> None:
    data = tmp_path / "shared"
    first = ThreadedServer(
        data, TOOLS, {"test:scenario": scenario_model()}, instance_id="a", lease_seconds=1
    ).start()
    try:
        key = await first.key("acme")
        async with first.client(key) as c:
            run_id = (await c.post("/v1/runs", json={"task": TASK})).json()["id"]
            await wait_status(c, run_id, {"awaiting_approval"})
    finally:
        first.stop()  # replica "a" is gone; its run still waits for a decision
    second = ThreadedServer(
        data, TOOLS, {"test:scenario": scenario_model()}, instance_id="b", lease_seconds=1
    ).start()
    try:
        async with second.client(key) as c:
            pending = (await c.get("/v1/approvals", params={"status": "pending"})).json()
            approval_id = pending["approvals"][0]["id"]
            # decided while no replica runs the call: "b" acts on the decision when it takes over
            await c.post(f"/v1/approvals/{approval_id}", json={"decision": "approve"})
            run = await wait_status(c, run_id, {"completed", "needs_attention", "failed"})
            row = await second.state.keys.db.fetchone(
                "SELECT owner FROM runs WHERE id = ?", (run_id,)
            )
    finally:
        second.stop()
    assert run["status"] == "completed", run
    assert text_of(effects) == "a\ndeployed prod\n"  # nothing ran twice
    assert row is not None and row["owner"] == "b"


async def test_a_replica_leaves_runs_whose_lease_is_live(tmp_path: Path, effects: Path) -> None:
    data = tmp_path / "shared"
    first = ThreadedServer(
        data, TOOLS, {"test:scenario": scenario_model()}, instance_id="a", lease_seconds=3600
    ).start()
    try:
        key = await first.key("acme")
        async with first.client(key) as c:
            run_id = (await c.post("/v1/runs", json={"task": TASK})).json()["id"]
            await wait_status(c, run_id, {"awaiting_approval"})
        # "b" starts while "a" still holds the lease: its startup recovery must not take the run
        second = ThreadedServer(
            data, TOOLS, {"test:scenario": scenario_model()}, instance_id="b", lease_seconds=3600
        ).start()
        try:
            row = await second.state.keys.db.fetchone(
                "SELECT owner, status FROM runs WHERE id = ?", (run_id,)
            )
        finally:
            second.stop()
    finally:
        first.stop()
    assert row == {"owner": "a", "status": "awaiting_approval"}
    assert text_of(effects) == "a\n"
