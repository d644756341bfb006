"""The tool value type, the caller's context, and the protocol for validating arguments."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

from mainspring.hooks import RunScope, Source
from mainspring.tokens import Tokenizer
from mainspring.tools.policy import ToolPolicy

SchemaFormat = Literal["openai", "anthropic"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, a service or an agent, and the scopes it holds."""

    id: str
    scopes: frozenset[str] = frozenset()

    def may_use(self, required: frozenset[str]) -> bool:
        """True when every required scope is held."""
        return required <= self.scopes


ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What an approver is asked to decide about."""

    tool: str
    arguments: Mapping[str, Any]
    """The validated arguments, with secret parameters redacted."""
    principal: Principal
    run_id: str | None
    _: KW_ONLY
    provenance: tuple[Source, ...] = ()
    """The tool results in the model's context when it asked for this call."""


Approver = Callable[[ApprovalRequest], Awaitable[bool] | bool]
"""Says yes (True) or no (False) to a call of a tool declared `requires_approval`."""


@dataclass(frozen=True, slots=True)
class CallContext:
    """Per-call facts the executor needs: who calls, in which run, and who approves.

    `deps` are the run's dependencies (credentials, clients): a tool that declares a
    `CallContext` parameter reads them there, so the model never sees them in the schema and
    they reach no record.
    """

    _: KW_ONLY
    principal: Principal = ANONYMOUS
    run_id: str | None = None
    approver: Approver | None = None
    idempotency_key: str | None = None
    """Stable across retries of the same call; tools with side effects may de-duplicate on it."""
    tokenizer: Tokenizer | None = None
    """The model's tokenizer, for capping tool output in its tokens; None: the default BPE."""
    deps: Any = None
    """The run's dependencies (`Agent(deps=...)`), for tools only: never shown, never recorded."""
    scope: RunScope | None = field(default=None, repr=False)
    """The run this call belongs to: its observers, step and provenance (set by the loop)."""


class ArgumentValidator(Protocol):
    """Turns raw arguments into keyword arguments for the tool's function."""

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Return the keyword arguments, or raise `InvalidArgumentsError` saying what is wrong."""
        ...

    def canonical_json(self, kwargs: Mapping[str, Any]) -> str:
        """A stable JSON text of validated arguments, for cache keys and records."""
        ...


@dataclass(frozen=True)
class Tool:
    """A callable the model may use, with its schema and its production policy.

    Build one with `@tool` from a typed function, or with `Tool.from_schema` from a raw JSON
    Schema (MCP and OpenAPI tools).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema of the arguments object."""
    function: Callable[..., Any]
    _: KW_ONLY
    validator: ArgumentValidator
    policy: ToolPolicy = field(default_factory=ToolPolicy)
    is_async: bool = False
    context_param: str | None = None
    """Name of a parameter that receives the `CallContext` (not shown to the model)."""

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the definition: name, description and schema.

        It prefixes cache keys (a changed tool never reads its old results) and identifies the
        tool in audit records and run replays.
        """
        definition = {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def schema(self, format: SchemaFormat = "openai") -> dict[str, Any]:
        """The tool as a provider expects it in a request."""
        if format == "anthropic":
            return {
                "name": self.name,
                "description": self.description,
                "input_schema": self.parameters,
            }
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def redact(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the arguments with secret parameters replaced by a marker."""
        secrets = self.policy.secrets
        if not secrets:
            return dict(arguments)
        return {k: ("***" if k in secrets else v) for k, v in arguments.items()}
