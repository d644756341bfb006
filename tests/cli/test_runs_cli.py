from pathlib import Path

import anyio
from typer.testing import CliRunner

from mainspring.cli.app import app
from mainspring.messages import Message, ModelResponse, ToolCall, ToolResult, Usage
from mainspring.runs import ModelCalled, RunInfo, SqliteRunStore, ToolFinished, ToolStarted

runner = CliRunner()


def seed(path: Path) -> None:
    async def go() -> None:
        store = SqliteRunStore(path)
        call = ToolCall("c1", "calculator", {"expression": "6*7"})
        await store.create(
            RunInfo(
                run_id="r1",
                task="what is 6*7?",
                usage=Usage(30, 10, 0.002),
                steps=2,
                status="completed",
                stop_reason="final_answer",
                output="42",
                created_at="2026-11-25T08:00:00",
            )
        )
        await store.append(
            "r1",
            [
                ModelCalled(1, ModelResponse(Message("assistant", "", tool_calls=(call,)))),
                ToolStarted(1, call, idempotency_key="r1:1:c1"),
                ToolFinished(1, ToolResult("c1", True, "42", tool="calculator")),
                ModelCalled(2, ModelResponse(Message("assistant", "42"))),
            ],
        )
        await store.create(RunInfo(run_id="r2", task="pending", created_at="2026-11-25T09:00:00"))
        await store.aclose()

    anyio.run(go)


def test_list_show_cancel(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    seed(db)
    store = ["--store", f"sqlite:///{db}"]
    listed = runner.invoke(app, ["runs", "list", *store])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].startswith("r2") and lines[1].startswith("r1")
    assert "tokens=40 cost=$0.002000" in lines[1]
    shown = runner.invoke(app, ["runs", "show", "r1", *store])
    assert "step 1 tool calculator: ok '42'" in shown.output and "output: 42" in shown.output
    as_json = runner.invoke(app, ["runs", "show", "r1", "--json", *store])
    assert '"run_id": "r1"' in as_json.output
    assert runner.invoke(app, ["runs", "cancel", "r2", *store]).exit_code == 0
    assert (
        "cancelled" in runner.invoke(app, ["runs", "list", "--status", "cancelled", *store]).output
    )
    again = runner.invoke(app, ["runs", "cancel", "r1", *store])
    assert again.exit_code == 2 and "already completed" in again.output
    missing = runner.invoke(app, ["runs", "show", "zzz", *store])
    assert missing.exit_code == 2 and "no run with id 'zzz'" in missing.output
    bad = runner.invoke(app, ["runs", "list", "--store", "mysql://x"])
    assert bad.exit_code == 2 and "sqlite:///" in bad.output
