"""Shared fixtures. Services (Redis, PostgreSQL) are real; in CI a missing one fails the test."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_unavailable(what: str, error: Exception) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping a backend's tests."""
    message = f"{what} is not reachable ({error}); start it or run on a machine that has it"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
