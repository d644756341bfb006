import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from mainspring.agent import Agent
from mainspring.cli.app import app
from mainspring.messages import ToolCall
from mainspring.runs import ModelCalled, RunInfo, SqliteRunStore, ToolStarted
from mainspring.testing import ScriptedModel, text, tool_calls
from mainspring.tools.builtin import calculator

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    (tmp_path / "empty.toml").write_text("")  # a named config file must exist (issue 17)
    monkeypatch.setenv("MAINSPRING_CONFIG", str(tmp_path / "empty.toml"))
    return tmp_path


def seed(db: Path) -> None:
    async def go() -> None:
        store = SqliteRunStore(db)
        script = [tool_calls(("calculator", {"expression": "6*7"})), text("It is 42.")]
        await Agent(ScriptedModel(script), [calculator], run_store=store).run("6*7?", run_id="r1")
        call = ToolCall("call_0", "send", {"to": "x"})
        await store.create(RunInfo(run_id="r2", task="send it", model="local:smollm2"))
        await store.append(
            "r2",
            [ModelCalled(1, tool_calls(call)), ToolStarted(1, call, idempotency_key="r2:1:call_0")],
        )
        await store.aclose()

    anyio.run(go)


def test_replay_and_resume_from_the_cli(data_dir: Path) -> None:
    seed(data_dir / "runs.db")
    replayed = runner.invoke(app, ["runs", "replay", "r1"])
    assert replayed.exit_code == 0, replayed.output
    assert "<- calculator: ok: 42" in replayed.output and "answer: It is 42." in replayed.output
    done = runner.invoke(app, ["runs", "resume", "r1"])
    assert done.exit_code == 0 and "answer: It is 42." in done.output
    stuck = runner.invoke(app, ["runs", "resume", "r2"])
    assert stuck.exit_code == 8 and "needs_attention" in stuck.output  # its own exit code
    assert "not idempotent" in stuck.output


def test_bad_options_are_clear(data_dir: Path) -> None:
    bad = runner.invoke(app, ["run", "x", "--protocol", "json"])
    assert bad.exit_code == 2 and "native or react" in bad.output
    nokey = runner.invoke(
        app, ["run", "x", "--model", "anthropic:claude-x"], env={"ANTHROPIC_API_KEY": ""}
    )
    assert nokey.exit_code == 2 and "ANTHROPIC_API_KEY" in nokey.output
    unknown = runner.invoke(app, ["run", "x", "--model", "acme:thing"])
    assert unknown.exit_code == 2 and "unknown model provider 'acme'" in unknown.output


@pytest.mark.slow
def test_run_on_the_embedded_local_model(data_dir: Path) -> None:
    result = runner.invoke(app, ["run", "What is 17 times 23?", "--json"])
    assert result.exit_code == 0, result.output
    assert "loading the model local:smollm2" in result.output  # the load is announced
    data = json.loads(result.stdout.splitlines()[-1])
    assert data["stop_reason"] == "final_answer" and data["tool_calls"] >= 1
    assert "391" in data["output"]
    listed = runner.invoke(app, ["runs", "list"])
    assert data["run_id"] in listed.output
    audit = runner.invoke(app, ["audit", "verify", str(data_dir / "audit.jsonl")])
    assert audit.exit_code == 0 and "OK:" in audit.output
