"""Settings for the CLI and the server: `mainspring.toml`, then `MAINSPRING_*` variables.

Only the edges (CLI, server) read settings; the library takes explicit arguments. Precedence,
lowest first: field defaults < `mainspring.toml` (or the file named by `MAINSPRING_CONFIG`)
< environment variables (`MAINSPRING_DATA_DIR`, `MAINSPRING_REDIS_URL`, ...) < CLI options.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mainspring.errors import ConfigurationError, MissingExtraError

try:
    from pydantic import Field, ValidationError
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("mainspring settings", "cli") from exc


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "mainspring"


class Settings(BaseSettings):
    """Deployment settings. Every field can be set in mainspring.toml or as MAINSPRING_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="MAINSPRING_", extra="forbid", toml_file="mainspring.toml"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where SQLite files and event logs live."""
    model: str = "local:smollm2"
    """The default model, as `provider:model`."""
    base_url: str | None = None
    """Endpoint for OpenAI-compatible servers (vLLM, Ollama, llama.cpp's server)."""
    redis_url: str | None = None
    """Share rate limits, breakers and cache through this Redis (in-process when unset)."""
    event_log: Path | None = None
    """JSON-lines file of tool-call events; defaults to <data_dir>/events.jsonl."""
    default_tool_timeout: float = 60.0
    server: dict[str, Any] = Field(default_factory=dict[str, Any])
    """The `[server]` table, validated by `mainspring.server.ServerSettings` when serving."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: CLI options > environment > toml file > defaults."""
        toml_path = os.environ.get("MAINSPRING_CONFIG", "mainspring.toml")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path)
        return (init_settings, env_settings, toml)

    @property
    def event_log_path(self) -> Path:
        """The event log file, defaulted under the data directory."""
        return self.event_log or self.data_dir / "events.jsonl"


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one clear `ConfigurationError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(
            f"invalid settings ({problems}); check mainspring.toml and MAINSPRING_* variables"
        ) from None
