"""Tools and a model for the service's tests: a task names the tool calls the model will make.

A task `"tool echo {"text": "hi"}; tool record {"note": "a"}"` makes the model call `echo`, then
`record`, then answer `done: <last tool result>`. Any other task is answered at once. The module
is importable by a server subprocess (`--tools tests.server.scenario:TOOLS`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mainspring.messages import Message, ToolCall
from mainspring.testing import FunctionModel
from mainspring.testing.models import ModelRequest, Reply
from mainspring.tools import Tool, tool

EFFECTS_VARIABLE = "MAINSPRING_TEST_EFFECTS"


@tool
def echo(text: str) -> str:
    """Say it back.

    Args:
        text: what to say.
    """
    return text


@tool
def record(note: str) -> str:
    """Append a note to the side-effects file (a real, visible side effect).

    Args:
        note: the line to append.
    """
    path = Path(os.environ[EFFECTS_VARIABLE])
    with path.open("a") as f:
        f.write(note + "\n")
    return f"recorded {note}"


@tool(requires_approval=True, secrets=["token"])
def deploy(target: str, token: str) -> str:
    """Deploy somewhere (needs a human's approval).

    Args:
        target: where to deploy.
        token: the deploy credential.
    """
    path = os.environ.get(EFFECTS_VARIABLE)
    if path:
        with Path(path).open("a") as f:
            f.write(f"deployed {target}\n")
    return f"deployed to {target}"


@tool(scopes=["admin"])
def wipe() -> str:
    """Only admins may call this."""
    return "wiped"


TOOLS: list[Tool] = [echo, record, deploy, wipe]


def _planned(task: str) -> list[tuple[str, dict[str, object]]]:
    calls = []
    for part in task.split(";"):
        words = part.strip().split(" ", 2)
        if len(words) >= 2 and words[0] == "tool":
            calls.append((words[1], json.loads(words[2]) if len(words) == 3 else {}))
    return calls


SECRET = "s3cret-token"
"""What the model puts where a task says `@secret`: a credential that is not in the task."""


def _fill(arguments: dict[str, object]) -> dict[str, object]:
    return {k: SECRET if v == "@secret" else v for k, v in arguments.items()}


def reply(request: ModelRequest) -> Reply:
    """The scenario's next step."""
    task = next(m.content for m in request.messages if m.role == "user")
    planned = _planned(task)
    made = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
    if made < len(planned):
        name, arguments = planned[made]
        call = ToolCall(f"c{made}", name, _fill(arguments))
        return Message("assistant", tool_calls=(call,))
    results = [m.content for m in request.messages if m.role == "tool"]
    return f"done: {results[-1]}" if results else f"answer to {task}"


def scenario_model() -> FunctionModel:
    """A fresh model for one server."""
    return FunctionModel(reply, name="test:scenario")
