"""The service process the server benchmark drives: `python -m bench._server_app DATA PORT`.

Its model answers at once (usage given, so no tokenizer runs): what is measured is the service.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from mainspring.messages import Message, ModelResponse, ToolCall, Usage
from mainspring.server import ServerSettings, create_app
from mainspring.testing import FunctionModel
from mainspring.testing.models import ModelRequest
from mainspring.tools import tool


@tool(requires_approval=True)
def deploy(target: str) -> str:
    """Deploy (needs approval).

    Args:
        target: where.
    """
    return f"deployed {target}"


def reply(request: ModelRequest) -> ModelResponse:
    task = next(m.content for m in request.messages if m.role == "user")
    if task.startswith("deploy") and not any(m.role == "tool" for m in request.messages):
        call = ToolCall("c1", "deploy", {"target": task.split()[-1]})
        return ModelResponse(Message("assistant", tool_calls=(call,)), usage=Usage(10, 5))
    return ModelResponse(Message("assistant", "ok"), usage=Usage(10, 1))


def main() -> None:
    data, port = Path(sys.argv[1]), int(sys.argv[2])
    settings = ServerSettings(
        data_dir=data,
        port=port,
        model="bench:instant",
        quotas={
            "concurrent_runs": 1_000_000,
            "runs_per_minute": 1_000_000,
            "event_streams": 10_000,
        },
    )
    app = create_app(settings, tools=[deploy], models={"bench:instant": FunctionModel(reply)})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main()
