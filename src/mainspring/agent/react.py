"""The ReAct text protocol, for models without native tool calling.

The model writes `Thought:` / `Action:` / `Action Input:` lines, or `Final Answer:`. Real model
output is messy, so the parser is lenient and never raises:

- `Action Input:` or `Input:`; JSON bare, in code fences, over several lines, or followed by prose
  (the first complete JSON value is taken);
- a tool name in backticks or quotes or with a trailing colon, or written as `name({...})`;
- a plain-text input for a tool with exactly one string parameter is wrapped for it;
- both an action and a final answer in one reply: whichever comes FIRST wins (a model that writes
  an action and then a final answer has invented the observation in between);
- no action and no `Final Answer:` at all: the whole reply is the answer;
- a Python-literal dict (`{'a': 6}`) where JSON was asked for, read with `ast.literal_eval`
  (literals only: nothing is evaluated);
- trailing punctuation after a tool name (`Action: add.`);
- an unknown tool or unreadable input: an observation saying what went wrong and listing the real
  tools, for the model's next attempt.

The server's stop sequence is not trusted: `cut_at_observation` drops everything from the first
`Observation:` line the model wrote itself, so an echoed or forged observation (say, a tool result
carrying an `Action:` line) is never parsed as the model's own request.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mainspring.models.base import ToolDefinition

REACT_PROMPT = """You can use these tools:

{tools}

To use a tool, answer exactly in this format:
Thought: what you need to do next
Action: the tool name, one of [{names}]
Action Input: the tool's arguments as a JSON object

You will then get:
Observation: the tool's result

Repeat Thought/Action/Action Input/Observation as needed. When you know the answer, write:
Thought: I know the answer
Final Answer: the answer to the original question"""

STOP_SEQUENCES = ("\nObservation:",)
"""Stop generating where the tool's result belongs: the model must not invent it."""

_FINAL = re.compile(r"final\s*answer\s*:", re.IGNORECASE)
_ACTION = re.compile(r"^[ \t>*#]*action\s*:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
_INPUT = re.compile(r"^[ \t>*#]*(?:action[ \t]*)?input\s*:[ \t]*", re.IGNORECASE | re.MULTILINE)
_OBSERVATION = re.compile(r"^[ \t>*#]*observation\s*:", re.IGNORECASE | re.MULTILINE)
_NAME_CALL = re.compile(r"^([A-Za-z0-9_\-]+)\s*\((.*)\)\s*$", re.DOTALL)
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """The model answered."""

    text: str


@dataclass(frozen=True, slots=True)
class Act:
    """The model asked for a tool."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Retry:
    """The reply could not be acted on; `feedback` goes back as the observation."""

    feedback: str


ReactStep = FinalAnswer | Act | Retry


def render_tools(tools: Sequence[ToolDefinition]) -> str:
    """The tool list for the prompt: name, description and argument schema."""
    lines = []
    for t in tools:
        props = t.parameters.get("properties", {})
        required = set(t.parameters.get("required", []))
        args = ", ".join(
            f"{name}: {spec.get('type', 'any')}{'' if name in required else ' (optional)'}"
            + (f" - {spec['description']}" if spec.get("description") else "")
            for name, spec in props.items()
        )
        lines.append(f"- {t.name}: {t.description.splitlines()[0] if t.description else ''}")
        lines.append(f"  arguments: {{{args}}}")
    return "\n".join(lines)


def react_instructions(tools: Sequence[ToolDefinition]) -> str:
    """The system prompt section that teaches the protocol."""
    return REACT_PROMPT.format(tools=render_tools(tools), names=", ".join(t.name for t in tools))


def cut_at_observation(text: str) -> str:
    """The reply up to the first `Observation:` line the model wrote itself.

    Servers and models that ignore the `stop` sequence go on to invent the tool's result; what
    follows that line is never the model's request, whatever it says.
    """
    found = _OBSERVATION.search(text)
    return text if found is None else text[: found.start()]


def parse_react(text: str, tools: Sequence[ToolDefinition]) -> ReactStep:
    """Read one model reply (cut at its own first `Observation:`). Never raises."""
    text = cut_at_observation(text)
    final = _FINAL.search(text)
    action = _ACTION.search(text)
    if action is None or (final is not None and final.start() < action.start()):
        if final is not None:
            return FinalAnswer(text[final.end() :].strip())
        return FinalAnswer(text.strip())
    return _parse_action(action.group(1), text[action.end() :], tools)


def _clean_name(raw: str) -> str:
    return raw.strip().strip("`'\"*[]").rstrip(":.,;!").strip().strip("`'\"")


def _parse_action(name_line: str, rest: str, tools: Sequence[ToolDefinition]) -> ReactStep:
    by_name = {t.name: t for t in tools}
    inline = _NAME_CALL.match(_clean_name(name_line))
    if inline is not None:
        name, raw_input = inline.group(1), inline.group(2)
    else:
        name = _clean_name(name_line)
        found = _INPUT.search(rest)
        raw_input = rest[found.end() :] if found else ""
    tool = by_name.get(name) or _case_insensitive(name, by_name)
    if tool is None:
        known = ", ".join(by_name) or "none"
        return Retry(f"There is no tool named {name!r}. Use one of: {known}.")
    arguments = _read_input(raw_input, tool)
    if isinstance(arguments, Retry):
        return arguments
    return Act(tool.name, arguments)


def _case_insensitive(name: str, by_name: dict[str, ToolDefinition]) -> ToolDefinition | None:
    matches = [t for n, t in by_name.items() if n.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def _read_input(raw: str, tool: ToolDefinition) -> dict[str, Any] | Retry:
    text = raw.strip()
    if text.startswith("```"):
        text = re.sub(r"^```[A-Za-z]*\s*", "", text)
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start >= 0:
        value = _first_value(text[start:])
        if isinstance(value, dict):
            return value
    single = _single_string_parameter(tool)
    plain = text.split("\n")[0].strip().strip("`").strip()
    if single is not None and plain and start != 0:
        return {single: plain.strip("\"'")}
    if not text and not tool.parameters.get("required"):
        return {}
    return Retry(
        f"The Action Input for {tool.name!r} must be a JSON object with its arguments, e.g. "
        f"{_example(tool)}. Write it on the line after 'Action Input:'."
    )


def _first_value(text: str) -> Any:
    """The first JSON value in `text`, else a Python-literal dict or list; None if neither."""
    try:
        return _DECODER.raw_decode(text)[0]
    except json.JSONDecodeError:
        pass
    literal = _balanced_prefix(text)
    if literal is None:
        return None
    try:
        # literal_eval builds literals only (no names, calls or attribute access): safe on
        # whatever the model wrote.
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None


def _balanced_prefix(text: str) -> str | None:
    """`text` up to the bracket closing its first one, skipping quoted strings."""
    depth, quote, escaped = 0, "", False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return text[: index + 1]
    return None


def _single_string_parameter(tool: ToolDefinition) -> str | None:
    props = tool.parameters.get("properties", {})
    if len(props) == 1:
        name, spec = next(iter(props.items()))
        if spec.get("type") == "string":
            return str(name)
    return None


def _example(tool: ToolDefinition) -> str:
    props = tool.parameters.get("properties", {})
    return json.dumps({name: f"<{spec.get('type', 'value')}>" for name, spec in props.items()})
