"""Open what the settings name: the run store, the audit log, the guard backend, the data dir.

Each opener turns a setting into the library object, checking early what would otherwise fail
late and obscurely (an unwritable data directory, a Redis that does not answer).
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from mainspring.audit import AuditLog, JsonlAuditLog, SqliteAuditLog
from mainspring.config import Settings, mask_url
from mainspring.errors import BackendError, ConfigurationError, MissingExtraError
from mainspring.runs import RunStore, SqliteRunStore
from mainspring.tools.guards import GuardBackend, RedisBackend

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
REDIS_PING_SECONDS = 3.0


def ensure_data_dir(settings: Settings) -> Path:
    """The data directory, created if needed; a clear error if it cannot be written."""
    data = settings.data_dir
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        if os.access(data, os.W_OK | os.X_OK):
            return data
        reason = "not writable"
    raise ConfigurationError(
        f"data directory {str(data)!r} cannot be used ({reason}); set "
        f"{settings.where('data_dir')} to a directory you can write"
    )


def open_run_store(url: str | None, settings: Settings) -> RunStore:
    """The run store named by `url` (a `--store` option) or by the settings."""
    if url is None and settings.runs_url is None:
        ensure_data_dir(settings)
    spec = url or settings.runs_store_url
    if spec.startswith("sqlite:///"):
        return SqliteRunStore(spec.removeprefix("sqlite:///"))
    if spec.startswith(("postgresql://", "postgres://")):
        from mainspring.runs.postgres import PostgresRunStore

        return PostgresRunStore(spec)
    where = "--store" if url is not None else settings.where("runs_url")
    raise ConfigurationError(
        f"run store {mask_url(spec)!r} ({where}) must start with sqlite:/// or postgresql://"
    )


def open_audit_log(settings: Settings) -> AuditLog:
    """The audit log named by the settings: a .jsonl or SQLite file, or a PostgreSQL URL."""
    location = settings.audit_log_location
    if settings.audit_log is None:
        ensure_data_dir(settings)
    if location.startswith(("postgresql://", "postgres://")):
        from mainspring.audit.postgres import PostgresAuditLog

        return PostgresAuditLog(location)
    if "://" in location:
        raise ConfigurationError(
            f"audit log {mask_url(location)!r} ({settings.where('audit_log')}) must be a .jsonl "
            "or .db path or a postgresql:// URL"
        )
    if Path(location).suffix in _SQLITE_SUFFIXES:
        return SqliteAuditLog(location)
    return JsonlAuditLog(location)


async def connect_guard_backend(settings: Settings) -> GuardBackend | None:
    """The Redis guard backend when `redis_url` is set (checked with a PING), else None.

    None means the executor keeps its limits in-process. A Redis that does not answer is an
    error now, not a surprise at the first rate-limited call.
    """
    url = settings.redis_url
    if url is None:
        return None
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:
        raise MissingExtraError("redis_url", "redis") from exc
    client = redis_asyncio.Redis.from_url(url, socket_connect_timeout=REDIS_PING_SECONDS)
    try:
        with anyio.fail_after(REDIS_PING_SECONDS):
            await client.ping()
    except Exception as exc:
        await client.aclose()
        raise BackendError(
            f"cannot reach Redis at {mask_url(url)!r} ({settings.where('redis_url')}): "
            f"{exc or type(exc).__name__}"
        ) from exc
    return RedisBackend(client)
