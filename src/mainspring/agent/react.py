"""The ReAct text protocol, for models without native tool calling.

The model writes `Thought:` / `Action:` / `Action Input:` and, when done, `Final Answer:`. The
parser is lenient with what real models write and never raises:

- `Action Input:` or `Input:`; JSON bare, in a code fence, over several lines, or followed by
  prose (the first complete JSON object is taken);
- a tool name in backticks or quotes, with a trailing colon or `()`, or in the wrong case;
- an imagined `Observation:` and everything after it is ignored: only the tool may observe;
- an action and a final answer in one reply: **whichever comes first wins**. An action first
  means the model ran ahead of its observation, so the action runs and the rest is dropped;
  a final answer first ends the run;
- no action and no final answer: the whole reply (less a `Thought:` label) is the answer.

An unknown tool name is passed on as written; the executor answers with an observation that
lists the real tools, and the model tries again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mainspring.messages import ToolResult
from mainspring.models.base import ToolDefinition

_ACTION = re.compile(r"^[ \t]*\**Action\**[ \t]*:(?![ \t]*Input)", re.IGNORECASE | re.MULTILINE)
_INPUT = re.compile(r"^[ \t]*\**(?:Action[ \t]*)?Input\**[ \t]*:", re.IGNORECASE | re.MULTILINE)
_FINAL = re.compile(r"^[ \t]*\**Final[ \t]*Answer\**[ \t]*:", re.IGNORECASE | re.MULTILINE)
_OBSERVATION = re.compile(r"^[ \t]*\**Observation\**[ \t]*:", re.IGNORECASE | re.MULTILINE)
_THOUGHT = re.compile(r"^[ \t]*\**Thought\**[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)

STOP_SEQUENCES = ("\nObservation:",)
"""Stop generation where the model would start imagining the tool's output."""


@dataclass(frozen=True, slots=True)
class ReactAction:
    """The model asks for a tool: `arguments` is a dict, or the raw text when not JSON."""

    tool: str
    arguments: dict[str, Any] | str
    thought: str = ""


@dataclass(frozen=True, slots=True)
class ReactFinal:
    """The model's answer."""

    answer: str
    thought: str = ""


def _clean_name(raw: str, known: Sequence[str]) -> str:
    name = raw.strip().splitlines()[0] if raw.strip() else ""
    name = name.strip().strip("`'\"*").rstrip(":").strip()
    if name.endswith("()"):
        name = name[:-2]
    name = name.strip("`'\" ")
    if name in known:
        return name
    folded = {k.casefold(): k for k in known}
    return folded.get(name.casefold(), name)


def _json_arguments(text: str) -> dict[str, Any] | str:
    """The first JSON object in `text` (fenced or not), else the stripped text itself."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(body, start)
        except ValueError:
            start = body.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = body.find("{", start + 1)
    return body.strip().strip("`").strip()


def _thought(text: str) -> str:
    return _THOUGHT.sub("", text).strip()


def parse_react(text: str, tools: Sequence[str] = ()) -> ReactAction | ReactFinal:
    """Read one model reply in the ReAct format. Never raises."""
    observation = _OBSERVATION.search(text)
    if observation:
        text = text[: observation.start()]
    action = _ACTION.search(text)
    final = _FINAL.search(text)
    if final and (action is None or final.start() < action.start()):
        end = action.start() if action else len(text)
        return ReactFinal(text[final.end() : end].strip(), _thought(text[: final.start()]))
    if action is None:
        return ReactFinal(_thought(text))
    if final:  # after the action: the model ran ahead; drop what it imagined
        text = text[: final.start()]
    thought = _thought(text[: action.start()])
    rest = text[action.end() :]
    found_input = _INPUT.search(rest)
    if found_input is None:
        # `Action: tool {"a": 1}` on one line, or nothing at all after the name.
        line, _, after = rest.strip().partition("\n")
        name, _, inline = line.partition(" ")
        return ReactAction(_clean_name(name, tools), _json_arguments(inline + after), thought)
    name = _clean_name(rest[: found_input.start()], tools)
    return ReactAction(name, _json_arguments(rest[found_input.end() :]), thought)


def coerce_arguments(arguments: dict[str, Any] | str, tool: ToolDefinition | None) -> Any:
    """Plain text for a tool with one required parameter becomes `{param: text}`.

    Models often write `Action Input: 17 * 23` for a one-argument tool; anything else stays as
    it is, and the executor says what is wrong with it.
    """
    if isinstance(arguments, dict) or tool is None:
        return arguments
    required = tool.parameters.get("required") or []
    if len(required) == 1 and arguments:
        return {required[0]: arguments.strip().strip("\"'")}
    return arguments


def react_prompt(tools: Sequence[ToolDefinition]) -> str:
    """The system prompt that teaches the protocol and lists the tools with their schemas."""
    lines = [
        "You can use these tools:",
        "",
        *(
            f"- {t.name}: {t.description.strip()}\n  arguments (JSON Schema): "
            f"{json.dumps(t.parameters, separators=(',', ':'))}"
            for t in tools
        ),
        "",
        "Use exactly this format:",
        "",
        "Thought: what to do next",
        "Action: the tool's name",
        'Action Input: the arguments as one JSON object, e.g. {"name": "value"}',
        "Observation: the tool's result (written for you; never write it yourself)",
        "... (Thought/Action/Action Input/Observation can repeat)",
        "Thought: I know the answer",
        "Final Answer: the answer to the task",
    ]
    return "\n".join(lines)


def observation(result: ToolResult) -> str:
    """How a tool's result is shown to a ReAct model."""
    if result.ok:
        return f"Observation: {result.content}"
    kind = result.error.kind if result.error else "tool_error"
    return f"Observation: error ({kind}): {result.content}"
