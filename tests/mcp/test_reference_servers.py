"""The client against the reference MCP servers, started for real over stdio."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mainspring.mcp import MCPServerConfig, MCPToolset, StdioTarget
from mainspring.messages import ToolCall, ToolResult
from mainspring.tools import ToolExecutor, ToolRegistry
from tests.mcp.conftest import server_command

pytestmark = pytest.mark.slow


async def run_calls(
    config: MCPServerConfig, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[list[str], list[ToolResult]]:
    registry = ToolRegistry()
    async with MCPToolset([config]) as toolset:
        toolset.register(registry)
        executor = ToolExecutor(registry)
        results = [
            await executor.execute(ToolCall(f"c{i}", n, a)) for i, (n, a) in enumerate(calls)
        ]
    return sorted(t.name for t in registry), results


async def test_time_server() -> None:
    config = MCPServerConfig(
        "time",
        StdioTarget(server_command("mcp-server-time"), ("--local-timezone", "UTC")),
        prefix="time_",
    )
    names, (now, converted, wrong) = await run_calls(
        config,
        [
            ("time_get_current_time", {"timezone": "Asia/Tokyo"}),
            (
                "time_convert_time",
                {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Kolkata"},
            ),
            ("time_get_current_time", {"timezone": "Mars/Olympus"}),
        ],
    )
    assert names == ["time_convert_time", "time_get_current_time"]
    assert now.ok and json.loads(now.content)["timezone"] == "Asia/Tokyo"
    assert converted.ok and json.loads(converted.content)["target"]["datetime"].endswith(
        "17:30:00+05:30"
    )
    assert not wrong.ok and wrong.error is not None and "Mars/Olympus" in wrong.content
    missing = await run_calls(config, [("time_get_current_time", {})])
    assert missing[1][0].error is not None and missing[1][0].error.kind == "invalid_arguments"


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "notes.txt"],
        ["commit", "-q", "-m", "first note"],
    ):
        if args[0] == "add":
            (repo / "notes.txt").write_text("one\n")
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    (repo / "notes.txt").write_text("one\ntwo\n")
    return repo


async def test_git_server_on_a_temporary_repository(repository: Path) -> None:
    config = MCPServerConfig(
        "git", StdioTarget(server_command("mcp-server-git"), ("--repository", str(repository)))
    )
    names, (status, log, diff, outside) = await run_calls(
        config,
        [
            ("git_status", {"repo_path": str(repository)}),
            ("git_log", {"repo_path": str(repository)}),
            ("git_diff_unstaged", {"repo_path": str(repository)}),
            ("git_status", {"repo_path": "/"}),
        ],
    )
    assert len(names) == 12 and "git_commit" in names
    assert status.ok and "notes.txt" in status.content
    assert log.ok and "first note" in log.content
    assert diff.ok and "+two" in diff.content
    assert not outside.ok  # the server refuses a repository outside the one it was given


@pytest.fixture
def web_page(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "page.html").write_text(
        "<html><head><title>Gears</title></head><body><article><h1>Mainsprings</h1>"
        "<p>A mainspring stores the energy that drives a mechanical watch. "
        * 3
        + "</p></article></body></html>"
    )
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/page.html"
    server.shutdown()
    server.server_close()


async def test_fetch_server_on_a_local_http_server(web_page: str) -> None:
    config = MCPServerConfig(
        "fetch",
        StdioTarget(
            server_command("mcp-server-fetch"), ("--allow-private-ips", "--ignore-robots-txt")
        ),
        timeout=60,
    )
    names, (page, gone) = await run_calls(
        config,
        [("fetch", {"url": web_page}), ("fetch", {"url": web_page.replace("page", "nothing")})],
    )
    assert names == ["fetch"]
    assert page.ok, page.content
    assert "stores the energy" in page.content
    assert not gone.ok and "404" in gone.content
