"""Test doubles shipped for users' tests and ours: no network, no weights, no wall clock."""

from mainspring.testing.clock import FakeClock
from mainspring.testing.models import FunctionModel, ScriptedModel, text, tool_calls
from mainspring.tools.events import InMemoryEventSink

__all__ = ["FakeClock", "FunctionModel", "InMemoryEventSink", "ScriptedModel", "text", "tool_calls"]
