"""Structured output over OpenAI-compatible servers, degrading to what the server accepts.

`ModelSettings.response_schema` asks for a reply that is JSON matching a schema. Servers differ
in how they can be asked:

1. `json_schema`: OpenAI, vLLM and llama.cpp's own server constrain the reply to the schema.
2. `json_object`: JSON mode. llama-cpp-python's server accepts only `text` and `json_object`
   (and answers HTTP 500 to `json_schema`), but it honours a `schema` beside the type and
   constrains the reply with a grammar; other servers only promise some JSON.
3. `prompted`: no `response_format` at all; the schema is in the prompt.

Modes 2 and 3 also carry the schema as an instruction (OpenAI's JSON mode requires the word
"JSON" in the messages) and their replies are validated here: JSON wrapped in a code fence or in
prose is unwrapped, and a reply that does not match the schema is sent back once with what was
wrong. The mode that worked is remembered per endpoint (the provider's base URL and the model),
so only the first call to a server pays for finding it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from mainspring.errors import ModelHTTPError
from mainspring.messages import Message

OutputMode = Literal["json_schema", "json_object", "prompted"]
MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "prompted")
"""Tried in this order until the server accepts one."""

UNSUPPORTED_STATUS = frozenset({400, 415, 422, 500, 501})
"""Statuses with which servers refuse a `response_format` they do not know."""

INSTRUCTION = (
    "Answer with one JSON value only: no prose before or after it and no code fence. "
    "It must match this JSON Schema:\n{schema}"
)

_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)


def response_format(mode: OutputMode, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The `response_format` request field for a mode (None: send none)."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    if mode == "json_object":
        # `schema` is llama.cpp's (and llama-cpp-python's) extension: a grammar-constrained reply.
        return {"type": "json_object", "schema": schema}
    return None


def with_instruction(messages: Sequence[Message], schema: dict[str, Any]) -> list[Message]:
    """`messages` with the schema instruction added to the first system message (or as one)."""
    text = INSTRUCTION.format(schema=json.dumps(schema, separators=(",", ":")))
    out = list(messages)
    for i, message in enumerate(out):
        if message.role == "system":
            out[i] = Message("system", f"{message.content}\n\n{text}".strip())
            return out
    return [Message("system", text), *out]


def may_be_unsupported(exc: ModelHTTPError) -> bool:
    """Whether an HTTP error could be the server refusing the mode (so the next may work)."""
    return exc.status in UNSUPPORTED_STATUS


def extract_json(text: str) -> str:
    """The JSON in a reply: the whole text, a fenced block, or the outermost object or array."""
    stripped = text.strip()
    if _parses(stripped):
        return stripped
    fenced = _FENCE.search(text)
    if fenced and _parses(fenced.group(1).strip()):
        return fenced.group(1).strip()
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end and _parses(text[start : end + 1]):
            return text[start : end + 1]
    return stripped


def schema_problem(text: str, schema: dict[str, Any]) -> str | None:
    """What is wrong with `text` as a value of `schema`, or None when it matches."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"the answer is not JSON ({exc})"
    import jsonschema  # ~50 ms of imports, paid by the first structured reply only

    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the top level"
    return f"at {where}: {error.message}"


def repair_messages(sent: Sequence[Message], reply: str, problem: str) -> list[Message]:
    """The conversation that was sent, the reply, and a request to fix what was wrong."""
    note = (
        f"That answer does not match the schema: {problem}. "
        "Answer again with the corrected JSON only."
    )
    return [*sent, Message("assistant", reply[:4000]), Message("user", note)]


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
