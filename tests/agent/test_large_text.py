"""A 1 MB task, tool result and model reply: the run counts them and finishes, no exception."""

from __future__ import annotations

from mainspring.agent import Agent
from mainspring.testing import ScriptedModel, text, tool_calls
from mainspring.tools import tool

MEGABYTE = ("rows returned by the query, " * 40_000)[:1_000_000]


@tool
def dump() -> str:
    """Return a very large result."""
    return MEGABYTE


async def test_a_run_with_megabyte_texts_finishes() -> None:
    with ScriptedModel([tool_calls(("dump", {})), text(MEGABYTE)]) as model:
        result = await Agent(model, [dump]).run("Summarise: " + MEGABYTE)
    assert result.ok and result.stop_reason == "final_answer"
    assert result.output == MEGABYTE
    # Task, tool result and reply were all counted: well over 3 x 200,000 tokens in all.
    assert result.usage.input_tokens > 400_000 and result.usage.output_tokens > 150_000
