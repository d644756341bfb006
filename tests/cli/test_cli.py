import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mainspring import __version__
from mainspring.cli.app import app
from mainspring.config import load_settings
from mainspring.errors import ConfigurationError

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mainspring {__version__}"


def test_tools_list_plain_and_json() -> None:
    plain = runner.invoke(app, ["tools", "list"])
    assert plain.exit_code == 0
    assert "calculator(expression)" in plain.output and "clock(timezone)" in plain.output
    as_json = runner.invoke(app, ["tools", "list", "--json"])
    schemas = json.loads(as_json.output)
    assert [s["function"]["name"] for s in schemas] == ["calculator", "clock"]
    anthropic = json.loads(
        runner.invoke(app, ["tools", "list", "--json", "--format", "anthropic"]).output
    )
    assert anthropic[0]["input_schema"]["required"] == ["expression"]
    alone = json.loads(runner.invoke(app, ["tools", "list", "--format", "anthropic"]).output)
    assert alone == anthropic  # --format alone prints the schemas too
    bad = runner.invoke(app, ["tools", "list", "--format", "xml"])
    assert bad.exit_code != 0 and "openai or anthropic" in bad.output


def test_demo_runs_every_guard_and_writes_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    for kind in (
        "cached",
        "rate_limited",
        "circuit_open",
        "forbidden",
        "not_found",
        "invalid_arguments",
    ):
        assert kind in result.output
    events = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(events) == 16
    assert "stale" not in "".join(events)  # the secret parameter is redacted


def test_settings_layering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mainspring.toml"
    config.write_text('model = "openai:gpt-4o-mini"\ndefault_tool_timeout = 5\n')
    monkeypatch.setenv("MAINSPRING_CONFIG", str(config))
    monkeypatch.setenv("MAINSPRING_DEFAULT_TOOL_TIMEOUT", "7")
    settings = load_settings()
    assert settings.model == "openai:gpt-4o-mini"  # from the file
    assert settings.default_tool_timeout == 7  # env beats the file
    assert load_settings(default_tool_timeout=9).default_tool_timeout == 9  # explicit beats env
    monkeypatch.setenv("MAINSPRING_DEFAULT_TOOL_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="default_tool_timeout"):
        load_settings()
