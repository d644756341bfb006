"""The loop's decisions as pure functions: what a reply asks for, and what to send next.

No I/O here: the async driver in `agent.py` performs the calls these functions describe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mainspring.agent.base import AgentProtocol
from mainspring.agent.react import ReactFinal, coerce_arguments, observation, parse_react
from mainspring.messages import Message, ModelResponse, ToolCall, ToolResult
from mainspring.models.base import ToolDefinition


@dataclass(frozen=True, slots=True)
class CallTools:
    """Run these calls, show the model their results, and ask again."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """The run is done: this is the output."""

    output: str


Action = CallTools | Answer


def next_action(
    response: ModelResponse,
    protocol: AgentProtocol,
    tools: Mapping[str, ToolDefinition],
    step: int,
) -> Action:
    """What the model's reply asks for. Native tool calls win over text sent alongside them."""
    message = response.message
    if protocol == "native":
        if message.tool_calls:
            return CallTools(message.tool_calls)
        return Answer(message.content.strip())
    parsed = parse_react(message.content, list(tools))
    if isinstance(parsed, ReactFinal):
        return Answer(parsed.answer)
    arguments = coerce_arguments(parsed.arguments, tools.get(parsed.tool))
    return CallTools((ToolCall(f"react_{step}", parsed.tool, arguments),))


def followup(
    protocol: AgentProtocol, response: ModelResponse, results: Sequence[ToolResult]
) -> list[Message]:
    """The messages that record a tool-calling turn: the reply, then what the tools said."""
    if protocol == "native":
        return [
            response.message,
            *(Message("tool", r.content, tool_call_id=r.call_id, name=r.tool) for r in results),
        ]
    observations = "\n".join(observation(r) for r in results)
    return [Message("assistant", response.message.content), Message("user", observations)]
