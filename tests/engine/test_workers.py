import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio
import psycopg
import pytest

from mainspring.engine import EngineClient, EngineSettings
from mainspring.engine.client import SubmittedRun
from mainspring.errors import RunNotFoundError
from mainspring.runs import PostgresRunStore
from tests.engine.conftest import Workers
from tests.mcp.conftest import server_command


async def _submit(db: str, count: int) -> tuple[EngineClient, list[str]]:
    client = EngineClient(EngineSettings(db))
    ids = [await client.submit(f"order-{i}") for i in range(count)]
    return client, ids


async def _all_finished(client: EngineClient, ids: list[str]) -> dict[str, SubmittedRun]:
    states = {run_id: await client.status(run_id) for run_id in ids}
    return {k: v for k, v in states.items() if v.status not in ("queued", "running")}


def _effects(db: str) -> Counter[tuple[str, str]]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT kind, run_order FROM effects").fetchall()
    return Counter((kind, order) for kind, order in rows)


async def test_one_worker_runs_submitted_runs(workers: Workers) -> None:
    workers.start("w1")
    client, ids = await _submit(workers.db, 3)
    try:
        states = [await client.wait(run_id, seconds=90) for run_id in ids]
    finally:
        client.close()
    assert [s.status for s in states] == ["completed"] * 3, workers.logs()
    assert {s.outcome["output"] for s in states if s.outcome} == {
        f"charged order-{i}" for i in range(3)
    }
    effects = _effects(workers.db)
    assert all(effects[("charge", f"order-{i}")] == 1 for i in range(3))


async def _chaos(workers: Workers, names: list[str], runs: int, kills: int) -> None:
    for name in names:
        workers.start(name)
    client, ids = await _submit(workers.db, runs)
    rng = random.Random(len(names))
    fresh = 0
    deadline = time.monotonic() + 240
    try:
        while workers.kills < kills and time.monotonic() < deadline:
            await anyio.sleep(rng.uniform(0.2, 1.0))
            victim = rng.choice(sorted(workers.procs))
            workers.kill(victim)
            if rng.random() < 0.5:
                workers.start(victim)  # the same executor id: recovers its own runs at once
            else:
                fresh += 1
                workers.start(f"{victim}-r{fresh}")  # a new id: peers recover after the lease
        finished: dict[str, SubmittedRun] = {}
        while len(finished) < len(ids) and time.monotonic() < deadline:
            finished = await _all_finished(client, ids)
            await anyio.sleep(0.3)
    finally:
        client.close()
    assert workers.kills >= kills
    assert len(finished) == len(ids), f"unfinished runs\n{workers.logs()}"
    statuses = Counter(s.outcome["status"] if s.outcome else s.status for s in finished.values())
    assert set(statuses) <= {"completed", "needs_attention"}, (statuses, workers.logs())
    effects = _effects(workers.db)
    for state in finished.values():
        assert state.outcome is not None
    orders = {f"order-{i}" for i in range(runs)}
    for order in orders:
        assert effects[("charge", order)] <= 1, f"{order} charged twice"
    completed = [s for s in finished.values() if s.outcome and s.outcome["status"] == "completed"]
    for state in completed:
        order = state.outcome["output"].removeprefix("charged ") if state.outcome else ""
        assert effects[("charge", order)] == 1


@pytest.mark.slow
async def test_two_workers_survive_sigkills(workers: Workers) -> None:
    await _chaos(workers, ["a", "b"], runs=16, kills=15)


@pytest.mark.slow
async def test_four_workers_survive_sigkills(workers: Workers) -> None:
    await _chaos(workers, ["a", "b", "c", "d"], runs=12, kills=15)


async def test_a_worker_calls_mcp_tools_opened_on_its_loop(workers: Workers) -> None:
    config = workers.tmp / "mcp.json"
    time_server = {"command": server_command("mcp-server-time"), "prefix": "time_"}
    config.write_text(json.dumps({"mcpServers": {"time": time_server}}))
    workers.extra = ["--mcp-config", str(config)]
    workers.start("w1")
    client = EngineClient(EngineSettings(workers.db))
    try:
        run_id = await client.submit('call time_get_current_time {"timezone": "UTC"}')
        state = await client.wait(run_id, seconds=60)
    finally:
        client.close()
    assert state.status == "completed", workers.logs()
    assert state.outcome is not None
    # The time server's own answer, which only a live session on the worker's loop returns.
    output = state.outcome["output"]
    assert output.startswith("done: ") and '"timezone":"UTC"' in output, output
    assert str(datetime.now(UTC).year) in output


async def _until(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    with anyio.fail_after(seconds):
        while True:
            if await check():
                return
            await anyio.sleep(0.1)


async def _stored_status_is(store: PostgresRunStore, run_id: str, status: str) -> bool:
    return (await store.load(run_id)).info.status == status


async def test_a_cancelled_run_stops_on_its_worker(workers: Workers) -> None:
    workers.start("w1")
    client = EngineClient(EngineSettings(workers.db))
    store = PostgresRunStore(workers.db)
    try:
        run_id = await client.submit('call nap {"seconds": 60}')
        await _until(lambda: _naps(store, run_id), 60)  # its tool call is under way
        await client.cancel(run_id)
        state = await client.status(run_id)
        await _until(lambda: _stored_status_is(store, run_id, "cancelled"), 10)
    finally:
        client.close()
        await store.aclose()
    assert state.status == "cancelled"
    assert state.outcome is None  # DBOS keeps no outcome of a cancelled workflow


async def _naps(store: PostgresRunStore, run_id: str) -> bool:
    try:
        record = await store.load(run_id)
    except RunNotFoundError:
        return False
    return bool(record.unfinished_tools())


async def test_a_submit_wakes_the_worker_without_waiting_for_its_poll(workers: Workers) -> None:
    workers.extra = ["--poll", "60"]  # DBOS's own poll would take a minute
    workers.start("w1")
    client = EngineClient(EngineSettings(workers.db))
    try:
        await anyio.sleep(2)  # the worker is up and listening
        run_id = await client.submit("order-w")
        state = await client.wait(run_id, seconds=20)
    finally:
        client.close()
    assert state.status == "completed", workers.logs()
    with psycopg.connect(workers.db) as conn:
        row = conn.execute(
            "SELECT started_at_epoch_ms - created_at FROM dbos.workflow_status "
            "WHERE workflow_uuid = %s",
            (run_id,),
        ).fetchone()
    assert row is not None and row[0] < 1000, row  # claimed on the notification
