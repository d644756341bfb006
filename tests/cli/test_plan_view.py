import io
import json

from rich.console import Console

from mainspring.agent import Agent, Budget
from mainspring.cli.plan_view import run_planned
from mainspring.messages import ModelResponse
from mainspring.testing import FunctionModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools.builtin import calculator


def model(request: ModelRequest) -> ModelResponse:
    first = request.messages[0].content
    if first.startswith("You break a task"):
        steps = [
            {"id": "s1", "description": "compute 17*23", "depends_on": []},
            {"id": "s2", "description": "compute 2+2", "depends_on": []},
            {"id": "s3", "description": "add the results", "depends_on": ["s1", "s2"]},
        ]
        return text(json.dumps({"steps": steps}))
    if first.startswith("Write the final answer"):
        return text("395")
    if request.messages[-1].role == "tool":
        return text(request.messages[-1].content)
    return tool_calls(("calculator", {"expression": "17*23"}))


async def test_plan_tree_and_step_lines_on_a_plain_console() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120)
    agent = Agent(FunctionModel(model), [calculator], budget=Budget(max_iterations=3))
    result = await run_planned(agent, "what is 17*23 + 2+2?", console)
    shown = out.getvalue()
    assert result.ok and result.output == "395" and result.steps == 3
    assert "plan (revision 0): what is 17*23 + 2+2?" in shown
    assert "[ ] s3: add the results  (after s1, s2)" in shown
    assert "step s1: ok: 391" in shown and "step s3 started" in shown
