"""Settings of the HTTP service: the `[server]` table of mainspring.toml, then MAINSPRING_SERVER_*.

Precedence, lowest first: field defaults < the `[server]` table < `MAINSPRING_SERVER_<NAME>`
variables < the options of `mainspring serve`. The CLI builds them; the app takes them as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mainspring.config import Settings, ValuesSource
from mainspring.errors import ConfigurationError


class QuotaSettings(BaseModel):
    """What one tenant may use. A request over any of them is answered 429 with Retry-After."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrent_runs: int = Field(default=10, ge=1)
    """Runs queued, running or awaiting approval at once."""
    runs_per_minute: int = Field(default=60, ge=1)
    """New runs a minute (a GCRA bucket: bursts up to this many, then one per 60/n seconds)."""
    tokens_per_day: int | None = Field(default=None, ge=1)
    """Input plus output tokens of the tenant's runs since midnight UTC (None: no cap)."""
    usd_per_day: float | None = Field(default=None, gt=0)
    """Dollars of model calls since midnight UTC (None: no cap)."""
    event_streams: int = Field(default=20, ge=1)
    """Open server-sent event streams at once."""


class ServerSettings(BaseSettings):
    """How the service runs: where it listens, what it allows, and its limits."""

    model_config = SettingsConfigDict(
        env_prefix="MAINSPRING_SERVER_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data_dir: Path = Path(".")
    """Where the service's SQLite database, runs and audit log live (the CLI's data_dir)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    model: str = "local:smollm2"
    """The default model of a run."""
    allowed_models: tuple[str, ...] = ()
    """Models a request may name; empty means only `model`."""
    database_url: str | None = None
    """PostgreSQL (postgresql://...) for the service's tables, runs and audit log, shared by
    replicas; unset: SQLite files under `data_dir`."""
    database_schema: str = "mainspring_server"
    """Schema of the service's tables; the run store and the audit log use `<schema>_runs`
    and `<schema>_audit`."""
    instance_id: str | None = None
    """This replica's name in run leases; default `<hostname>:<port>`, so a restarted replica
    takes its own runs back at once and others' only when their lease has lapsed."""
    lease_seconds: float = Field(default=15.0, gt=0)
    """A run whose executor has not renewed its lease for this long is taken over."""
    engine_url: str | None = None
    """The durable engine's PostgreSQL (DBOS system database). Set: runs are queued for
    `mainspring worker --service` processes instead of running in the service's own loop; the
    workers share `database_url` (PostgreSQL, required then) to report status, events and
    approvals. See docs/engine.md."""
    engine_poll_seconds: float = Field(default=0.2, gt=0)
    """With the engine: how often event streams re-read a run that a worker executes."""
    redis_url: str | None = None
    """Share run-rate buckets and tool guard state across replicas through this Redis."""
    default_scopes: tuple[str, ...] = ()
    """Scopes of a key created without --scopes (the built-in tools require none)."""
    sealing_key: SecretStr | None = None
    """Fernet key that keeps secret tool arguments encrypted in run records, so a run resumed
    after a restart can repeat a call that needs them. Unset: a key file `sealing.key` (mode
    0600) under `data_dir`, made on first start; replicas sharing PostgreSQL must share one key
    (set it here), or a run resumed on another replica stops with `needs_attention`."""
    approval_timeout: float = Field(default=3600.0, gt=0)
    """Seconds a call waits for a human decision before it is denied."""
    metrics_public: bool = False
    """Serve /metrics without an operator key."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_task_chars: int = Field(default=20_000, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    run_max_iterations: int = Field(default=20, ge=1)
    """The tenant-wide iteration cap; a request's budget may only lower it."""
    run_max_seconds: float = Field(default=600.0, gt=0)
    """Seconds a run may take; a request's budget may only lower it."""
    session_hours: float = Field(default=12.0, gt=0)
    """How long a dashboard sign-in lasts."""
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """CLI options > environment > the `[server]` table (passed as `_table`) > defaults."""
        return (init_settings, env_settings)

    @property
    def models(self) -> tuple[str, ...]:
        """Every model a run may use, the default first."""
        return (self.model, *(m for m in self.allowed_models if m != self.model))

    @property
    def database_path(self) -> Path:
        """The service's own tables: keys, sessions, runs, events, approvals."""
        return self.data_dir / "server.db"


def load_server_settings(base: Settings, **overrides: Any) -> ServerSettings:
    """Build the server's settings from the CLI's: its `[server]` table, env, then `overrides`.

    `data_dir`, `model` and `redis_url` default to the CLI settings' own values.
    """
    table: dict[str, Any] = {
        "data_dir": base.data_dir,
        "model": base.model,
        "redis_url": base.redis_url,
        **base.server,
    }
    given = {k: v for k, v in overrides.items() if v is not None}

    class _Layered(ServerSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, ValuesSource(settings_cls, table))

    try:
        return _Layered(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(
            f"invalid server settings ({problems}); check the [server] table of mainspring.toml, "
            "MAINSPRING_SERVER_* variables and the options of `mainspring serve`"
        ) from None
