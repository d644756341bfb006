"""Errors as `application/problem+json` (RFC 9457): a status, a title, and what to fix."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from starlette.responses import Response

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raised anywhere in a request; the app turns it into a problem response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        retry_after: float | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.extra = dict(extra or {})

    def response(self) -> Response:
        """The HTTP response for this problem."""
        body = {
            "type": "about:blank",
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="mainspring"'
        return Response(
            json.dumps(body),
            status_code=self.status,
            media_type="application/problem+json",
            headers=headers,
        )


def not_found(what: str, ident: str) -> Problem:
    """The one answer for anything that is not the caller's, whether or not it exists."""
    return Problem(404, f"no {what} {ident!r} for this key; check the id")
