"""Every mistake a newcomer makes on the command line is one or two lines, never a traceback."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mainspring.cli.app import app
from mainspring.cli.errors import explain

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAINSPRING_CONFIG", raising=False)
    monkeypatch.delenv("MAINSPRING_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fails(args: list[str], code: int, *needles: str) -> str:
    result = runner.invoke(app, args)
    output = result.output
    assert result.exit_code == code, output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert len([line for line in output.splitlines() if line.startswith(("error", "hint"))]) <= 2
    for needle in needles:
        assert needle in output, output
    return output


def test_malformed_toml_names_the_file(isolated: Path) -> None:
    (isolated / "mainspring.toml").write_text('model = "openai\n')
    fails(["runs", "list"], 2, "mainspring.toml", "not valid TOML", "line 1")


def test_unknown_key_in_toml_suggests_the_right_one(isolated: Path) -> None:
    (isolated / "mainspring.toml").write_text('modle = "openai:x"\n')
    fails(["config", "show"], 2, "modle in mainspring.toml", "did you mean 'model'")


def test_wrong_type_in_toml_and_env(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "mainspring.toml").write_text('default_tool_timeout = "soon"\n')
    fails(["config", "show"], 2, "default_tool_timeout in mainspring.toml = 'soon'")
    monkeypatch.setenv("MAINSPRING_DEFAULT_TOOL_TIMEOUT", "later")
    fails(["config", "show"], 2, "(MAINSPRING_DEFAULT_TOOL_TIMEOUT) = 'later'")


def test_unknown_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSPRING_MODLE", "openai:x")
    fails(["config", "show"], 2, "MAINSPRING_MODLE", "did you mean 'MAINSPRING_MODEL'")


def test_missing_named_config_file(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setenv("MAINSPRING_CONFIG", str(isolated / "missing.toml"))
    fails(["config", "show"], 2, "missing.toml", "does not exist")


def test_budget_options_must_be_positive() -> None:
    fails(["run", "x", "--max-iterations", "0"], 2, "--max-iterations")
    fails(["run", "x", "--max-cost", "-1"], 2, "--max-cost", "positive")
    fails(["run", "x", "--max-seconds", "0"], 2, "--max-seconds")
    fails(["run", "x", "--max-tokens", "0"], 2, "--max-tokens")


def test_corrupt_runs_db(isolated: Path) -> None:
    data = isolated / "data"
    data.mkdir()
    (data / "runs.db").write_bytes(b"not a database" * 100)
    fails(["runs", "list"], 1, "runs.db", "not a database", "hint:")


def test_unreachable_and_missing_postgres() -> None:
    fails(["runs", "list", "--store", "postgresql://127.0.0.1:1/x"], 1, "127.0.0.1:1", "hint:")
    fails(
        ["runs", "list", "--store", "postgresql://127.0.0.1/mainspring_no_such_db"],
        1,
        "mainspring_no_such_db",
    )


def test_postgres_password_is_masked() -> None:
    out = fails(["runs", "list", "--store", "postgresql://ann:s3cret@127.0.0.1:1/x"], 1)
    assert "s3cret" not in out and "ann:***@" in out


def test_unwritable_data_dir(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = isolated / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(blocker / "data"))
    fails(["runs", "list"], 2, "a-file", "MAINSPRING_DATA_DIR")
    fails(["run", "x", "--model", "openai:m", "--base-url", "http://127.0.0.1:1"], 2, "a-file")


def test_memory_import_of_a_missing_file(isolated: Path) -> None:
    fails(["memory", "import", str(isolated / "nope.jsonl")], 2, "nope.jsonl", "memory export")


def test_bogus_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSPRING_REDIS_URL", "http://localhost")
    fails(["config", "show"], 2, "MAINSPRING_REDIS_URL", "redis://")
    monkeypatch.setenv("MAINSPRING_REDIS_URL", "redis://127.0.0.1:1")
    args = ["run", "x", "--model", "openai:m", "--base-url", "http://127.0.0.1:1"]
    fails(args, 1, "cannot reach Redis at 'redis://127.0.0.1:1'", "MAINSPRING_REDIS_URL")


def test_debug_shows_the_traceback(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "mainspring.toml").write_text("model = \n")
    result = runner.invoke(app, ["--debug", "config", "show"])
    assert result.exit_code == 1 and "not valid TOML" in str(result.exception)
    monkeypatch.setenv("MAINSPRING_DEBUG", "1")
    assert runner.invoke(app, ["config", "show"]).exit_code == 1


def test_real_bugs_are_not_hidden() -> None:
    assert explain(KeyError("x")) is None
    assert explain(PermissionError(13, "Permission denied", "/x")) is not None
