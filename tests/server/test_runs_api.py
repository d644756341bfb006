"""The runs API through a real uvicorn: create, read, list, events, cancel, errors."""

from __future__ import annotations

import json
from pathlib import Path

from mainspring.errors import ModelError
from mainspring.testing import FunctionModel
from mainspring.testing.models import ModelRequest, Reply
from tests.server.harness import ThreadedServer, read_sse, text_of, wait_status
from tests.server.scenario import TOOLS, reply


async def test_a_run_is_accepted_runs_and_reports_its_answer(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        response = await c.post("/v1/runs", json={"task": 'tool echo {"text": "hi"}'})
        assert response.status_code == 202
        accepted = response.json()
        assert accepted["status"] == "queued"
        assert response.headers["location"] == f"/v1/runs/{accepted['id']}"
        run = await wait_status(c, accepted["id"], {"completed"})
    assert run["output"] == "done: hi"
    assert run["stop_reason"] == "final_answer"
    assert run["steps"] == 2
    assert run["tool_calls"] == 1
    assert run["usage"]["input_tokens"] > 0
    assert run["model"] == "test:scenario"


async def test_list_is_paged_newest_first(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        ids = [(await c.post("/v1/runs", json={"task": f"t{i}"})).json()["id"] for i in range(3)]
        for run_id in ids:
            await wait_status(c, run_id, {"completed"})
        first = (await c.get("/v1/runs", params={"limit": 2})).json()
        second = (
            await c.get("/v1/runs", params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
    assert [r["id"] for r in first["runs"]] == ids[::-1][:2]
    assert [r["id"] for r in second["runs"]] == ids[:1]
    assert second["next_cursor"] is None
    async with server.client(key) as c:
        bad = await c.get("/v1/runs", params={"cursor": "x|y"})
    assert bad.status_code == 422


async def test_events_stream_every_typed_event_then_closes(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        run_id = (await c.post("/v1/runs", json={"task": 'tool echo {"text": "x"}'})).json()["id"]
        events = await read_sse(c, f"/v1/runs/{run_id}/events")
    types = [t for _, t, _ in events]
    assert types[0] == "run_started"
    assert types[-1] == "run_finished"
    assert "tool_call_started" in types and "tool_call_finished" in types
    assert [i for i, _, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][2]["output"] == "done: x"


async def test_reconnect_with_last_event_id_has_no_gap_and_no_repeat(
    server: ThreadedServer,
) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        task = 'tool echo {"text": "a"}; tool echo {"text": "b"}; tool echo {"text": "c"}'
        run_id = (await c.post("/v1/runs", json={"task": task})).json()["id"]
        head = await read_sse(c, f"/v1/runs/{run_id}/events", stop_after=3)
        rest = await read_sse(c, f"/v1/runs/{run_id}/events", last_id=head[-1][0])
        whole = await read_sse(c, f"/v1/runs/{run_id}/events")
    assert [e[0] for e in head + rest] == [e[0] for e in whole]
    assert head + rest == whole
    # the query parameter does the same for clients that cannot set the header
    async with server.client(key) as c:
        tail = await read_sse(c, f"/v1/runs/{run_id}/events?last_event_id={whole[-2][0]}")
    assert tail == whole[-1:]


async def test_cancel_stops_a_waiting_run_and_a_finished_one_is_409(
    server: ThreadedServer,
) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        task = 'tool deploy {"target": "prod", "token": "s3cret"}'
        run_id = (await c.post("/v1/runs", json={"task": task})).json()["id"]
        await wait_status(c, run_id, {"awaiting_approval"})
        cancelled = await c.post(f"/v1/runs/{run_id}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        again = await c.post(f"/v1/runs/{run_id}/cancel")
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        approvals = (await c.get("/v1/approvals", params={"run_id": run_id})).json()
        events = await read_sse(c, f"/v1/runs/{run_id}/events")
    assert [a["status"] for a in approvals["approvals"]] == ["cancelled"]
    assert events[-1][1] == "run_cancelled"


async def test_resume_refuses_a_completed_run(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        run_id = (await c.post("/v1/runs", json={"task": "hello"})).json()["id"]
        await wait_status(c, run_id, {"completed"})
        response = await c.post(f"/v1/runs/{run_id}/resume")
    assert response.status_code == 409
    assert "only failed or needs_attention" in response.json()["detail"]


async def test_bad_bodies_get_clear_4xx_problems(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        unknown = await c.post("/v1/runs", json={"task": "x", "temperature": 2})
        malformed = await c.post(
            "/v1/runs", content=b"{nope", headers={"content-type": "application/json"}
        )
        not_json = await c.post(
            "/v1/runs", content=b"task=x", headers={"content-type": "text/plain"}
        )
        too_big = await c.post("/v1/runs", json={"task": "x" * 70_000})
        too_long = await c.post("/v1/runs", json={"task": "x" * 20_001})
        bad_model = await c.post("/v1/runs", json={"task": "x", "model": "openai:gpt-5"})
        bad_tool = await c.post("/v1/runs", json={"task": "x", "tools": ["wipe"]})
        over = await c.post("/v1/runs", json={"task": "x", "budget": {"max_iterations": 999}})
        negative = await c.post("/v1/runs", json={"task": "x", "budget": {"max_tokens": -1}})
        no_route = await c.get("/v1/nothing")
    assert unknown.status_code == 422
    assert "temperature" in unknown.json()["detail"]
    assert unknown.json()["errors"][0]["field"] == "temperature"
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["detail"]
    assert not_json.status_code == 415
    assert too_big.status_code == 413
    assert too_long.status_code == 422 and "at most 20000" in too_long.json()["detail"]
    assert bad_model.status_code == 422 and "test:scenario" in bad_model.json()["detail"]
    assert bad_tool.status_code == 422 and "wipe" in bad_tool.json()["detail"]
    assert over.status_code == 422 and "may only lower" in over.json()["detail"]
    assert negative.status_code == 422
    assert no_route.status_code == 404
    for response in (unknown, malformed, too_big, bad_model, no_route):
        assert response.headers["content-type"] == "application/problem+json"
        assert json.loads(response.text)["status"] == response.status_code


async def test_a_lower_budget_is_applied(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        task = 'tool echo {"text": "a"}; tool echo {"text": "b"}'
        body = {"task": task, "budget": {"max_iterations": 1}}
        run_id = (await c.post("/v1/runs", json=body)).json()["id"]
        run = await wait_status(c, run_id, {"completed", "failed"})
    assert run["stop_reason"] == "max_iterations"
    assert run["steps"] == 1


async def test_a_request_may_narrow_the_tools(server: ThreadedServer) -> None:
    key = await server.key("acme")
    async with server.client(key) as c:
        body = {"task": 'tool record {"note": "n"}', "tools": ["echo"]}
        run_id = (await c.post("/v1/runs", json=body)).json()["id"]
        run = await wait_status(c, run_id, {"completed"})
    assert run["tools"] == ["echo"]
    assert "no tool named 'record'" in run["output"]


async def test_a_failed_run_resumes_from_its_record(tmp_path: Path, effects: Path) -> None:
    calls: list[int] = []

    def flaky(request: ModelRequest) -> Reply:
        calls.append(1)
        if len(calls) == 2:  # the call after the tool ran: the provider is down
            raise ModelError("provider unavailable (503)")
        return reply(request)

    server = ThreadedServer(
        tmp_path / "d", TOOLS, {"test:scenario": FunctionModel(flaky, name="test:scenario")}
    ).start()
    try:
        key = await server.key("acme")
        async with server.client(key) as c:
            task = 'tool record {"note": "one"}'
            run_id = (await c.post("/v1/runs", json={"task": task})).json()["id"]
            failed = await wait_status(c, run_id, {"failed"})
            resumed = await c.post(f"/v1/runs/{run_id}/resume")
            run = await wait_status(c, run_id, {"completed"})
            types = [t for _, t, _ in await read_sse(c, f"/v1/runs/{run_id}/events")]
    finally:
        server.stop()
    assert "provider unavailable" in failed["error"]
    assert resumed.status_code == 202
    assert run["output"] == "done: recorded one"
    assert text_of(effects) == "one\n"  # the finished tool call was not repeated
    assert types.count("run_finished") == 2 and "run_resumed" in types
