"""The HTTP service: keys and tenants, quotas, runs with live events, human approvals, metrics.

`create_app(settings, tools=..., models=...)` is an ASGI app; `mainspring serve` runs it with
uvicorn. Needs the `server` extra.
"""

from __future__ import annotations

from mainspring import errors as _errors

try:
    import prometheus_client  # noqa: F401
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise _errors.MissingExtraError("the HTTP service", "server") from exc

from mainspring.server.app import build_state, create_app
from mainspring.server.approvals import Approval, ApprovalBook, DurableApprover
from mainspring.server.keys import ApiKey, Caller, KeyStore
from mainspring.server.settings import QuotaSettings, ServerSettings, load_server_settings

__all__ = [
    "ApiKey",
    "Approval",
    "ApprovalBook",
    "Caller",
    "DurableApprover",
    "KeyStore",
    "QuotaSettings",
    "ServerSettings",
    "build_state",
    "create_app",
    "load_server_settings",
]
