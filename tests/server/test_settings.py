"""Server settings: the [server] table, MAINSPRING_SERVER_* variables, then CLI options."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainspring.config import load_settings
from mainspring.errors import ConfigurationError
from mainspring.server import load_server_settings


def test_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "mainspring.toml"
    toml.write_text(
        'model = "openai:gpt-4o-mini"\n'
        f'data_dir = "{tmp_path}"\n'
        "[server]\nport = 9000\napproval_timeout = 60\n"
        "[server.quotas]\nruns_per_minute = 5\nconcurrent_runs = 3\n"
    )
    monkeypatch.setenv("MAINSPRING_CONFIG", str(toml))
    monkeypatch.setenv("MAINSPRING_SERVER_APPROVAL_TIMEOUT", "120")
    monkeypatch.setenv("MAINSPRING_SERVER_QUOTAS__CONCURRENT_RUNS", "7")
    settings = load_server_settings(load_settings(), host="0.0.0.0", port=None)
    assert settings.port == 9000  # the table
    assert settings.approval_timeout == 120  # the environment beats the table
    assert settings.host == "0.0.0.0"  # options beat both; None means "not given"
    assert settings.quotas.runs_per_minute == 5 and settings.quotas.concurrent_runs == 7
    assert settings.model == "openai:gpt-4o-mini" and settings.data_dir == tmp_path
    assert settings.models == ("openai:gpt-4o-mini",)
    assert settings.database_path == tmp_path / "server.db"


def test_mistakes_are_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "mainspring.toml"
    toml.write_text("[server]\nprot = 9000\n[server.quotas]\nruns_per_minute = 0\n")
    monkeypatch.setenv("MAINSPRING_CONFIG", str(toml))
    with pytest.raises(ConfigurationError) as caught:
        load_server_settings(load_settings())
    message = str(caught.value)
    assert "prot" in message and "quotas.runs_per_minute" in message
    assert "[server] table" in message
