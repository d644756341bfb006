"""The child side of `@tool(sandbox=...)`: import the tool, call it, send back JSON.

It runs inside the jail, started by `mainspring.tools._jailed.PREAMBLE` (and `CALL`), which has
already moved stdout aside (`reply` is the only descriptor the host reads the answer from) and
set sys.path. The arguments are validated again against the model derived from the function's
signature, so they arrive with the types the function declares. Every outcome is one JSON
object on `reply`: `{"ok": true, "text": ...}` or `{"ok": false, "stage": ..., "error": ...}`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import traceback
from collections.abc import Callable
from typing import Any

import pydantic
from pydantic_core import to_json

from mainspring.errors import RetryWithFeedback
from mainspring.sandbox import _inside
from mainspring.tools._validation import describe_validation_error
from mainspring.tools.base import CallContext, Principal, Tool
from mainspring.tools.decorator import _parameters_model

_TRACEBACK_LINES = 8


def _resolve(module_name: str, qualname: str) -> Callable[..., Any]:
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    if isinstance(found, Tool):
        found = found.function
    if not callable(found):
        raise TypeError(f"{module_name}.{qualname} is a {type(found).__name__}, not a function")
    return found  # type: ignore[no-any-return]


def _arguments(function: Callable[..., Any], payload: dict[str, Any]) -> dict[str, Any]:
    model, _ = _parameters_model(function, payload["tool"], {})
    instance = model.model_validate_json(payload["arguments"])
    kwargs = {name: getattr(instance, name) for name in model.model_fields}
    context = payload.get("context")
    if payload.get("context_param"):
        principal = Principal("anonymous")
        if context is not None:
            principal = Principal(
                context["principal"]["id"], frozenset(context["principal"]["scopes"])
            )
        kwargs[payload["context_param"]] = CallContext(
            principal=principal,
            run_id=(context or {}).get("run_id"),
            idempotency_key=(context or {}).get("idempotency_key"),
        )
    return kwargs


def _described(exc: BaseException) -> str:
    """`Type: message`, then the frames of the tool's own code (this module's are left out)."""
    own = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    frames = traceback.format_tb(own)[-_TRACEBACK_LINES:] if own is not None else []
    shown = "".join(frames).rstrip()
    headline = f"{type(exc).__name__}: {exc}"
    return f"{headline}\nTraceback (most recent call last):\n{shown}" if shown else headline


async def _awaited(value: Any) -> Any:
    return await value


def _call(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        function = _resolve(payload["module"], payload["qualname"])
    except BaseException as exc:  # whatever import raised is the answer
        return {"ok": False, "stage": "import", "error": f"{type(exc).__name__}: {exc}"}
    try:
        kwargs = _arguments(function, payload)
    except pydantic.ValidationError as exc:
        return {"ok": False, "stage": "arguments", "error": describe_validation_error(exc)}
    try:
        value = function(**kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
    except RetryWithFeedback as exc:
        return {"ok": False, "stage": "feedback", "error": exc.feedback}
    except BaseException as exc:  # the tool's own failure is the answer
        return {"ok": False, "stage": "call", "error": _described(exc)}
    try:
        text = value if isinstance(value, str) else to_json(value).decode()
    except Exception as exc:  # any serializer failure means "not JSON"
        detail = f"a {type(value).__name__} ({type(exc).__name__}: {exc})"
        return {"ok": False, "stage": "result", "error": detail}
    return {"ok": True, "text": text}


def main(payload: dict[str, Any], reply: int) -> None:
    """Run the call the host sent and write the one reply; never raises."""
    _inside.enter(payload["level"])
    answer = json.dumps(_call(payload), ensure_ascii=False).encode("utf-8", "replace")
    with os.fdopen(reply, "wb") as out:
        out.write(answer)
