"""`--mcp-config` on `run` and `tools list`, and `tools call` with its exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mainspring.cli.app import app
from tests.mcp.conftest import MISBEHAVING, server_command
from tests.models._server import Reply, ScriptedServer

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("MAINSPRING_CONFIG", str(tmp_path / "none.toml"))
    return tmp_path


@pytest.fixture
def mcp_config(tmp_path: Path) -> Path:
    path = tmp_path / "mcp.json"
    servers = {
        "time": {"command": server_command("mcp-server-time"), "prefix": "time_"},
        "bad": {"command": sys.executable, "args": [str(MISBEHAVING)], "timeout": 1},
    }
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def test_tools_list_shows_mcp_tools_and_json_has_names(data_dir: Path, mcp_config: Path) -> None:
    plain = runner.invoke(app, ["tools", "list", "--mcp-config", str(mcp_config)])
    assert plain.exit_code == 0, plain.output
    assert "time_get_current_time(timezone)" in plain.output and "[mcp: time]" in plain.output
    listed = json.loads(
        runner.invoke(app, ["tools", "list", "--json", "--mcp-config", str(mcp_config)]).output
    )
    names = [t["name"] for t in listed]
    assert names[:2] == ["calculator", "clock"] and "time_convert_time" in names
    echo = next(t for t in listed if t["name"] == "echo")
    assert echo["mcp_server"] == "bad" and echo["function"]["name"] == "echo"


def test_tools_call_prints_the_result_and_exits_by_outcome(
    data_dir: Path, mcp_config: Path
) -> None:
    ok = runner.invoke(
        app,
        ["tools", "call", "echo", "--args", '{"text": "hi"}', "--json"]
        + ["--mcp-config", str(mcp_config)],
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["ok"] is True and data["content"] == "hi" and data["error"] is None
    hung = runner.invoke(app, ["tools", "call", "hang", "--json", "--mcp-config", str(mcp_config)])
    assert hung.exit_code == 1
    failed = json.loads(hung.output)
    assert failed["ok"] is False and failed["error"]["kind"] == "timeout"
    plain = runner.invoke(app, ["tools", "call", "calculator", "--args", '{"expression": "6*7"}'])
    assert plain.exit_code == 0 and plain.output.strip() == "42"
    unknown = runner.invoke(app, ["tools", "call", "nope"])
    assert unknown.exit_code == 1 and "not_found" in unknown.output
    bad_json = runner.invoke(app, ["tools", "call", "calculator", "--args", "[1]"])
    assert bad_json.exit_code == 2 and "JSON object" in bad_json.output
    audit = (data_dir / "audit.jsonl").read_text().splitlines()
    assert any('"echo"' in line for line in audit)


def test_a_bad_mcp_config_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"mcpServers": {"x": {"command": "/nonexistent/server"}}}')
    result = runner.invoke(app, ["tools", "list", "--mcp-config", str(path)])
    assert result.exit_code == 2 and "MCP server 'x'" in result.output
    twice = {"command": sys.executable, "args": [str(MISBEHAVING)]}
    path.write_text(json.dumps({"mcpServers": {"one": twice, "two": twice}}))
    clash = runner.invoke(app, ["tools", "list", "--mcp-config", str(path)])
    assert clash.exit_code == 2 and "collides" in clash.output and "prefix" in clash.output


@pytest.fixture
def openai_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.start()
    yield server
    server.stop()


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_run_offers_mcp_tools_to_the_model(
    data_dir: Path, mcp_config: Path, openai_server: ScriptedServer
) -> None:
    call = {
        "index": 0,
        "id": "c1",
        "type": "function",
        "function": {"name": "time_get_current_time", "arguments": '{"timezone": "Asia/Tokyo"}'},
    }
    openai_server.add(
        Reply(sse=[chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]),
        Reply(sse=[chunk({"content": "It is morning in Tokyo."}), chunk({}, "stop"), "[DONE]"]),
    )
    result = runner.invoke(
        app,
        ["run", "What time is it in Tokyo?", "--json", "--model", "openai:m"]
        + ["--base-url", openai_server.url + "/v1", "--mcp-config", str(mcp_config)],
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.splitlines()[-1])
    assert data["tool_calls"] == 1 and data["output"] == "It is morning in Tokyo."
    first = openai_server.requests[0].body
    assert "time_get_current_time" in {t["function"]["name"] for t in first["tools"]}
    tool_message = openai_server.requests[1].body["messages"][-1]
    assert tool_message["role"] == "tool" and "Asia/Tokyo" in tool_message["content"]


def test_mcp_serve_usage_errors(data_dir: Path) -> None:
    nokeys = runner.invoke(app, ["mcp", "serve", "--transport", "http"])
    assert nokeys.exit_code == 2 and "MAINSPRING_MCP_KEYS" in nokeys.output
    bad = runner.invoke(app, ["mcp", "serve", "--transport", "sse"])
    assert bad.exit_code == 2 and "stdio or http" in bad.output
