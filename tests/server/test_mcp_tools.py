"""`create_app(mcp_servers=...)` / `mainspring serve --mcp-config`: runs use MCP servers' tools."""

from __future__ import annotations

from pathlib import Path

from mainspring.mcp import MCPServerConfig, StdioTarget
from mainspring.models.base import Model
from tests.mcp.conftest import server_command
from tests.server.harness import ThreadedServer, wait_status
from tests.server.scenario import TOOLS, scenario_model


async def test_a_run_calls_an_mcp_servers_tool_through_the_service(tmp_path: Path) -> None:
    time_server = MCPServerConfig(
        "time",
        StdioTarget(server_command("mcp-server-time"), ("--local-timezone", "UTC")),
        prefix="time_",
    )
    models: dict[str, Model] = {"test:scenario": scenario_model()}
    server = ThreadedServer(tmp_path / "data", TOOLS, models, mcp_servers=[time_server]).start()
    try:
        key = await server.key("acme")
        async with server.client(key) as client:
            tools = (await client.get("/v1/tools")).json()
            names = {t["name"] for t in (tools["tools"] if isinstance(tools, dict) else tools)}
            assert "time_get_current_time" in names
            task = 'tool time_get_current_time {"timezone": "Asia/Tokyo"}'
            created = await client.post(
                "/v1/runs", json={"task": task, "tools": ["time_get_current_time"]}
            )
            assert created.status_code == 202, created.text
            run = await wait_status(client, created.json()["id"], {"completed", "failed"})
        assert run["status"] == "completed", run
        assert "Asia/Tokyo" in run["output"]
    finally:
        server.stop()
