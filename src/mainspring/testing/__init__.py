"""Test doubles shipped for users' tests and ours: models that need no network and no weights."""

from mainspring.testing.models import FunctionModel, ScriptedModel, text, tool_calls

__all__ = ["FunctionModel", "ScriptedModel", "text", "tool_calls"]
