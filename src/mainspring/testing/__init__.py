"""Test doubles shipped for users' tests and ours."""

from mainspring.testing.clock import FakeClock
from mainspring.tools.events import InMemoryEventSink

__all__ = ["FakeClock", "InMemoryEventSink"]
