"""API keys: random secrets shown once, stored only as hashes, each naming a tenant and scopes.

A key is `ms_` + 32 random bytes (URL-safe base64). With 256 bits of entropy a plain SHA-256 is
enough to store it: a slow password hash protects guessable secrets, and these are not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mainspring.errors import ConfigurationError
from mainspring.runs.base import utc_now
from mainspring.server._db import Database, Row, ServiceDatabase
from mainspring.tools.base import Principal

KEY_PREFIX = "ms_"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's record (never the secret itself)."""

    id: str
    tenant: str
    scopes: frozenset[str] | None
    """None: the tenant's default scopes, as the server's settings say when the key is used."""
    operator: bool
    created_at: str
    revoked_at: str | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from: the key, its tenant, and the `Principal` its tool calls run as."""

    key_id: str
    tenant: str
    principal: Principal
    operator: bool = False


def _row_key(row: Row) -> ApiKey:
    stored = row["scopes"]
    scopes = None if stored is None else frozenset(s for s in stored.split(",") if s)
    return ApiKey(
        row["id"],
        row["tenant"],
        scopes,
        bool(row["operator"]),
        row["created_at"],
        row["revoked_at"],
    )


def check_tenant(tenant: str) -> str:
    """A tenant name, or a `ConfigurationError` saying what a name may contain."""
    if not _TENANT.match(tenant):
        raise ConfigurationError(
            f"tenant {tenant!r} is not a valid name: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return tenant


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Scopes as a set, each checked (a comma would break the stored list)."""
    result = frozenset(s.strip() for s in scopes if s.strip())
    bad = sorted(s for s in result if not _SCOPE.match(s))
    if bad:
        raise ConfigurationError(
            f"invalid scope(s) {bad}: a scope is letters, digits and '_.:/-', no spaces or commas"
        )
    return result


class KeyStore:
    """Creates, lists, revokes and verifies keys in the service database."""

    def __init__(
        self, db: ServiceDatabase, *, default_scopes: frozenset[str] = frozenset()
    ) -> None:
        self.db = db
        self.default_scopes = default_scopes
        """What a key created without scopes holds."""

    @classmethod
    def open(cls, path: Path, *, default_scopes: frozenset[str] = frozenset()) -> KeyStore:
        """The keys in the service database at `path` (`ServerSettings.database_path`).

        Other front ends (the MCP server) use this with `verify_principal` to accept the keys.
        """
        return cls(Database(path), default_scopes=default_scopes)

    def _caller(self, key: ApiKey) -> Caller:
        scopes = self.default_scopes if key.scopes is None else key.scopes
        principal = Principal(f"{key.tenant}/{key.id}", scopes)
        return Caller(key.id, key.tenant, principal, key.operator)

    async def create(
        self, tenant: str, scopes: Iterable[str] | None = None, *, operator: bool = False
    ) -> tuple[ApiKey, str]:
        """A new key for `tenant`; returns its record and the secret, which is never stored.

        Without `scopes` the key holds the tenant's default scopes, resolved when it is used.
        """
        key = ApiKey(
            f"key_{secrets.token_hex(8)}",
            check_tenant(tenant),
            None if scopes is None else check_scopes(scopes),
            operator,
            utc_now(),
        )
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        await self.db.execute(
            "INSERT INTO api_keys (id, tenant, hash, scopes, operator, created_at) "
            "VALUES (?,?,?,?,?,?)",
            (
                key.id,
                key.tenant,
                hash_key(secret),
                None if key.scopes is None else ",".join(sorted(key.scopes)),
                int(operator),
                key.created_at,
            ),
        )
        return key, secret

    async def list(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (or one tenant's), newest first, revoked ones included."""
        if tenant is None:
            rows = await self.db.fetchall("SELECT * FROM api_keys ORDER BY created_at DESC")
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at DESC", (tenant,)
            )
        return [_row_key(r) for r in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key at once; False when no live key has that id."""
        changed = await self.db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (utc_now(), key_id),
        )
        return changed > 0

    async def get(self, key_id: str) -> ApiKey | None:
        """A live key by id."""
        row = await self.db.fetchone(
            "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)
        )
        return None if row is None else _row_key(row)

    async def verify(self, secret: str) -> Caller | None:
        """The caller a presented key stands for, or None (unknown, malformed or revoked)."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 128:
            return None
        digest = hash_key(secret)
        row = await self.db.fetchone(
            "SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (digest,)
        )
        # The lookup is by hash; comparing again in constant time keeps a timing side channel
        # from ever depending on how much of a guessed key matched.
        if row is None or not hmac.compare_digest(row["hash"], digest):
            return None
        return self._caller(_row_key(row))

    async def verify_principal(self, secret: str) -> Principal | None:
        """Key -> `Principal`, for other front ends (the MCP server) that accept these keys."""
        caller = await self.verify(secret)
        return None if caller is None else caller.principal

    async def caller_for(self, key_id: str) -> Caller | None:
        """The caller of a live key by id (dashboard sessions hold the id, not the secret)."""
        key = await self.get(key_id)
        return None if key is None else self._caller(key)
