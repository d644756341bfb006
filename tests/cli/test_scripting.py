"""The CLI for scripts: --json everywhere a command lists or shows, exit codes per stop reason."""

import json
from pathlib import Path
from typing import get_args

import anyio
import pytest
from typer.testing import CliRunner

from mainspring.agent import StopReason
from mainspring.cli.app import app
from mainspring.cli.exit_codes import STOP_EXIT_CODES
from mainspring.memory import AgentMemory
from mainspring.messages import Message, ModelResponse, ToolCall, ToolResult
from mainspring.runs import ModelCalled, RunInfo, SqliteRunStore, ToolFinished, ToolStarted

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAINSPRING_CONFIG", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-never-sent")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def seed_crashed_run(db: Path) -> None:
    """A run whose process died after its last model reply, before the run was closed."""

    async def go() -> None:
        store = SqliteRunStore(db)
        call = ToolCall("c1", "calculator", {"expression": "6*7"})
        await store.create(RunInfo(run_id="r1", task="what is 6*7?", model="openai:gpt-4o-mini"))
        await store.append(
            "r1",
            [
                ModelCalled(1, ModelResponse(Message("assistant", "", tool_calls=(call,)))),
                ToolStarted(1, call, idempotency_key="r1:1:c1"),
                ToolFinished(1, ToolResult("c1", True, "42", tool="calculator")),
                ModelCalled(2, ModelResponse(Message("assistant", "It is 42."))),
            ],
        )
        await store.aclose()

    anyio.run(go)


def status_of(db: Path, run_id: str) -> str:
    async def go() -> str:
        store = SqliteRunStore(db)
        try:
            return (await store.load(run_id)).info.status
        finally:
            await store.aclose()

    return anyio.run(go)


def test_every_stop_reason_has_its_own_exit_code() -> None:
    assert set(STOP_EXIT_CODES) == set(get_args(StopReason))
    assert STOP_EXIT_CODES["final_answer"] == 0
    codes = list(STOP_EXIT_CODES.values())
    assert len(set(codes)) == len(codes) and 2 not in codes  # 2 is usage/configuration


def test_resume_continues_in_the_store_it_read_from(tmp_path: Path, data_dir: Path) -> None:
    other = tmp_path / "elsewhere.db"
    seed_crashed_run(other)
    store = ["--store", f"sqlite:///{other}"]
    done = runner.invoke(app, ["runs", "resume", "r1", *store])
    assert done.exit_code == 0, done.output
    assert "answer: It is 42." in done.output
    assert status_of(other, "r1") == "completed"
    assert (
        not (data_dir / "runs.db").exists()
        or "r1" not in runner.invoke(app, ["runs", "list"]).output
    )


def test_runs_json(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    seed_crashed_run(db)
    store = ["--store", f"sqlite:///{db}"]
    listed = json.loads(runner.invoke(app, ["runs", "list", "--json", *store]).output)
    assert [r["run_id"] for r in listed] == ["r1"] and listed[0]["status"] == "running"
    replayed = runner.invoke(app, ["runs", "replay", "r1", "--json", *store])
    data = json.loads(replayed.output)
    assert (
        data["result"]["output"] == "It is 42." and data["result"]["stop_reason"] == "final_answer"
    )
    assert "ToolCallFinished" in [e["type"] for e in data["events"]]
    resumed = runner.invoke(app, ["runs", "resume", "r1", "--json", *store])
    assert json.loads(resumed.output)["output"] == "It is 42."
    empty = runner.invoke(app, ["runs", "list", "--status", "failed", *store])
    assert empty.exit_code == 0 and "no runs recorded with status 'failed'" in empty.output
    assert (
        json.loads(
            runner.invoke(app, ["runs", "list", "--json", "--status", "failed", *store]).output
        )
        == []
    )
    bad = runner.invoke(app, ["runs", "list", "--status", "done", *store])
    assert bad.exit_code == 2 and "interrupted" in bad.output


def test_memory_json_and_empty_results(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/memory.db"

    async def seed() -> None:
        async with AgentMemory.open(url, namespace="u") as memory:
            await memory.add_long_term("The user is vegetarian", importance=0.9)

    anyio.run(seed)
    base = ["memory", "--url", url, "-n", "u"]
    shown = json.loads(runner.invoke(app, [*base, "show", "--json"]).output)
    assert shown[0]["content"] == "The user is vegetarian" and "embedding" not in shown[0]
    found = json.loads(runner.invoke(app, [*base, "search", "vegetarian", "--json"]).output)
    assert found[0]["score"] > 0 and found[0]["importance"] == 0.9
    nobody = ["memory", "--url", url, "-n", "nobody"]
    nothing = runner.invoke(app, [*nobody, "search", "zebra"])
    assert nothing.exit_code == 0 and "no long-term entries match 'zebra'" in nothing.output
    assert "no entries in namespace 'nobody'" in runner.invoke(app, [*nobody, "show"]).output


def test_memory_url_from_the_settings_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/from-toml.db"
    (tmp_path / "mainspring.toml").write_text(f'memory_url = "{url}"\n')
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"content": "imported without a time"}\n')
    imported = runner.invoke(app, ["memory", "import", str(dump)])
    assert imported.exit_code == 0, imported.output
    assert "imported 1 entries" in imported.output
    assert (tmp_path / "from-toml.db").exists()
    shown = runner.invoke(app, ["memory", "show"])
    assert "1970" not in shown.output and "imported without a time" in shown.output


def test_demo_json(data_dir: Path) -> None:
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    kinds = {c["error"]["kind"] for c in data["calls"] if c["error"]}
    assert {"rate_limited", "circuit_open", "forbidden", "not_found"} <= kinds
    assert data["event_log"] == str(data_dir / "events.jsonl")


def test_config_show_json_masks_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAINSPRING_API_KEY", "sk-very-secret")
    monkeypatch.setenv("MAINSPRING_RUNS_URL", "postgresql://ann:pw@db.example/runs")
    (tmp_path / "mainspring.toml").write_text('model = "openai:gpt-4o-mini"\n')
    result = runner.invoke(app, ["config", "show", "--json"])
    assert "sk-very-secret" not in result.output and ":pw@" not in result.output
    settings = json.loads(result.output)["settings"]
    assert settings["api_key"] == {"value": "********", "source": "env MAINSPRING_API_KEY"}
    assert settings["model"]["source"] == "file mainspring.toml"
    assert settings["runs_url"]["value"] == "postgresql://ann:***@db.example/runs"
    assert settings["default_tool_timeout"]["source"] == "default"
    plain = runner.invoke(app, ["config", "show"])
    assert "model" in plain.output and "(file mainspring.toml)" in plain.output
