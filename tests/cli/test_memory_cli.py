import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from mainspring.cli.memory import app
from mainspring.memory import AgentMemory

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/memory.db"

    async def seed() -> None:
        async with AgentMemory.open(url, namespace="user-42") as memory:
            await memory.add_long_term(
                "The user is vegetarian", importance=0.9, metadata={"source": "profile"}
            )
            await memory.add_long_term("The user flies to Lisbon on Friday", importance=0.5)
            await memory.add_short_term("User: hello")
            await memory.scoped("other").add_long_term("someone else is vegetarian too")

    anyio.run(seed)
    return url


def invoke(url: str, *args: str, namespace: str = "user-42", input: str | None = None) -> str:
    result = runner.invoke(app, ["--url", url, "-n", namespace, *args], input=input)
    assert result.exit_code == 0, result.output
    return result.stdout  # progress and "no entries" notes go to stderr


def test_show_lists_the_namespace_newest_first(url: str) -> None:
    lines = invoke(url, "show").splitlines()
    assert len(lines) == 3
    assert "User: hello" in lines[0] and "short" in lines[0]
    assert "vegetarian" in lines[-1] and "0.90" in lines[-1]
    only_long = invoke(url, "show", "--kind", "long", "--limit", "1").splitlines()
    assert len(only_long) == 1 and "Lisbon" in only_long[0]


def test_search_ranks_and_stays_in_the_namespace(url: str) -> None:
    lines = invoke(url, "search", "vegetarian").splitlines()
    assert "The user is vegetarian" in lines[0]
    assert not any("someone else" in line for line in lines)


def test_export_import_round_trip(url: str, tmp_path: Path) -> None:
    out = tmp_path / "dump.jsonl"
    invoke(url, "export", "-o", str(out))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["content"] for r in records} >= {"The user is vegetarian", "User: hello"}
    assert invoke(url, "import", str(out), namespace="copy").strip() == "imported 3 entries"
    stdout_dump = invoke(url, "export", namespace="copy")
    assert len(stdout_dump.splitlines()) == 3
    assert invoke(url, "import", "-", namespace="copy2", input=stdout_dump).strip() == (
        "imported 3 entries"
    )


def test_forget_by_id_and_filter(url: str) -> None:
    records = [json.loads(line) for line in invoke(url, "export").splitlines()]
    lisbon = next(r["id"] for r in records if "Lisbon" in r["content"])
    assert invoke(url, "forget", "--id", lisbon).strip() == "forgot 1 entries"
    assert invoke(url, "forget", "-m", "source=profile").strip() == "forgot 1 entries"
    refused = runner.invoke(app, ["--url", url, "forget"])
    assert refused.exit_code != 0 and "--all" in refused.output
    assert invoke(url, "forget", "--all").strip() == "forgot 1 entries"
    assert invoke(url, "show").strip() == ""
    assert "someone else" in invoke(url, "show", namespace="other")


def test_stats_plain_and_json(url: str) -> None:
    data = json.loads(invoke(url, "stats", "--json"))
    assert data["entries"] == {"long": 2, "short": 1}
    assert data["evicted"] == 0
    assert "long" in invoke(url, "stats")


def test_bad_input_is_explained(url: str, tmp_path: Path) -> None:
    bad_kind = runner.invoke(app, ["--url", url, "show", "--kind", "forever"])
    assert bad_kind.exit_code != 0 and "not a kind" in bad_kind.output
    garbage = tmp_path / "bad.jsonl"
    garbage.write_text("{not json}\n")
    bad_file = runner.invoke(app, ["--url", url, "import", str(garbage)])
    assert bad_file.exit_code != 0 and "line 1 is not JSON" in bad_file.output
    bad_url = runner.invoke(app, ["--url", "mysql://x", "stats"])
    assert bad_url.exit_code == 1 and "unknown memory store URL" in bad_url.output
