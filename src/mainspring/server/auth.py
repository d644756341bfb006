"""Who is calling: a bearer key, or a dashboard session cookie (with a CSRF token for writes)."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from mainspring.server._db import ServiceDatabase
from mainspring.server.keys import Caller, KeyStore, hash_key
from mainspring.server.problems import Problem

SESSION_COOKIE = "mainspring_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in dashboard: the key it stands for and the CSRF token its forms carry."""

    key_id: str
    csrf: str
    caller: Caller


class Sessions:
    """Server-side sessions: the cookie holds a random token, the table holds its hash."""

    def __init__(self, db: ServiceDatabase, keys: KeyStore, *, hours: float) -> None:
        self.db = db
        self.keys = keys
        self.seconds = hours * 3600

    async def open(self, caller: Caller) -> tuple[str, str]:
        """A new session for a verified key: (cookie token, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await self.db.execute(
            "DELETE FROM sessions WHERE expires_at < ?", (time.time(),)
        )  # sweep expired ones while we are here
        await self.db.execute(
            "INSERT INTO sessions (token_hash, key_id, csrf, expires_at) VALUES (?,?,?,?)",
            (hash_key(token), caller.key_id, csrf, time.time() + self.seconds),
        )
        return token, csrf

    async def get(self, token: str) -> Session | None:
        """The live session of a cookie; None when expired, unknown or its key was revoked."""
        row = await self.db.fetchone(
            "SELECT key_id, csrf, expires_at FROM sessions WHERE token_hash = ?",
            (hash_key(token),),
        )
        if row is None or row["expires_at"] < time.time():
            return None
        caller = await self.keys.caller_for(row["key_id"])
        return None if caller is None else Session(row["key_id"], row["csrf"], caller)

    async def close(self, token: str) -> None:
        """Sign out."""
        await self.db.execute("DELETE FROM sessions WHERE token_hash = ?", (hash_key(token),))


def check_csrf(session: Session, presented: str | None) -> None:
    """A write through a session must echo its CSRF token (header or form field)."""
    if presented is None or not hmac.compare_digest(presented, session.csrf):
        raise Problem(403, "missing or wrong CSRF token; reload the page and try again")


async def authenticate(request: Request, keys: KeyStore, sessions: Sessions) -> Caller:
    """The caller of a request, or a 401 that says how to authenticate."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "send the key as 'Authorization: Bearer ms_...'")
        caller = await keys.verify(token.strip())
        if caller is None:
            raise Problem(401, "the key is unknown or revoked; create one with `mainspring keys`")
        return caller
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        session = await sessions.get(cookie)
        if session is not None:
            if request.method not in _SAFE_METHODS:
                check_csrf(session, request.headers.get(CSRF_HEADER))
            return session.caller
    raise Problem(401, "no API key: send 'Authorization: Bearer ms_...' (see `mainspring keys`)")
