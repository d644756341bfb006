from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mainspring.cli.run import build_model, run_command
from mainspring.errors import ConfigurationError
from tests.models._server import Reply, ScriptedServer

runner = CliRunner()
app = typer.Typer()
app.command("run")(run_command)
app.command("noop")(lambda: None)  # two commands, so "run" is a subcommand as when mounted


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    s.start()
    yield s
    s.stop()


def completion(message: dict[str, Any]) -> list[Any]:
    """The reply as the SSE chunks of a streamed completion (the CLI streams)."""
    delta = {k: v for k, v in message.items() if v is not None}
    for i, call in enumerate(delta.get("tool_calls", [])):
        call["index"] = i
    usage = {"prompt_tokens": 100, "completion_tokens": 10}
    return [
        {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": usage},
        "[DONE]",
    ]


CALC = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "calculator", "arguments": '{"expression": "17*23"}'},
        }
    ],
}


def test_run_against_an_openai_compatible_server_shows_steps(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    server.add(
        Reply(sse=completion(CALC)),
        Reply(sse=completion({"role": "assistant", "content": "It is 391."})),
    )
    result = runner.invoke(
        app, ["run", "What is 17 times 23?", "--model", "openai:gpt-4o-mini",
              "--base-url", f"{server.url}/v1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 'tool calculator({"expression": "17*23"}) -> ok 391' in result.output
    assert "Answer: It is 391." in result.output
    assert "tokens: 200 in / 20 out" in result.output and "stop: final_answer" in result.output
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-env"
    assert "sk-from-env" not in result.output


def test_json_output_and_iteration_cap(server: ScriptedServer) -> None:
    server.add(Reply(sse=completion(CALC)))
    result = runner.invoke(
        app, ["run", "17*23?", "--model", "openai:m", "--base-url", f"{server.url}/v1",
              "--max-iterations", "1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["stop_reason"] == "max_iterations"
    assert payload["steps"][0]["tool_results"] == [
        {"tool": "calculator", "ok": True, "content": "391"}
    ]


def test_bad_options_are_explained() -> None:
    bad = runner.invoke(app, ["run", "x", "--protocol", "xml"])
    assert bad.exit_code != 0 and "native or react" in bad.output
    with pytest.raises(ConfigurationError, match="--base-url"):
        build_model("local:smollm2", "http://127.0.0.1:1")


def test_model_errors_exit_nonzero() -> None:
    result = runner.invoke(
        app, ["run", "x", "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1"]
    )
    assert result.exit_code == 1
    assert "stop: error" in result.output


@pytest.mark.slow
def test_run_on_the_embedded_default_model() -> None:
    result = runner.invoke(app, ["run", "What is 17 times 23?"])
    assert result.exit_code == 0, result.output
    assert "tool calculator(" in result.output and "391" in result.output
    assert "stop: final_answer" in result.output
