"""Settings for the CLI and the server: `mainspring.toml`, then `MAINSPRING_*` variables.

Only the edges (CLI, server) read settings; the library takes explicit arguments. Precedence,
lowest first: field defaults < `mainspring.toml` in the working directory (or the file named by
`MAINSPRING_CONFIG`, which must exist) < environment variables (`MAINSPRING_DATA_DIR`,
`MAINSPRING_REDIS_URL`, ...) < CLI options. Every mistake (a malformed file, an unknown key or
variable, a wrong type, a URL of the wrong kind) is one `ConfigurationError` naming the file or
variable and the fix. `Settings.origins` says where each value came from (`mainspring config
show`).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mainspring.errors import ConfigurationError, MissingExtraError

try:
    from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError, field_validator
    from pydantic.fields import FieldInfo
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        SettingsError,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("mainspring settings", "cli") from exc

ENV_PREFIX = "MAINSPRING_"
CONFIG_VARIABLE = "MAINSPRING_CONFIG"
DEFAULT_CONFIG_FILE = "mainspring.toml"
OTHER_VARIABLES = frozenset({CONFIG_VARIABLE, "MAINSPRING_DEBUG"})
"""`MAINSPRING_*` variables that are not settings (so not reported as unknown)."""
SERVER_PREFIX = "MAINSPRING_SERVER_"
"""The service's own variables (`mainspring.server.ServerSettings` reads and checks them)."""
TEST_PREFIX = "MAINSPRING_TEST_"
"""Variables of the project's own test suite (e.g. MAINSPRING_TEST_POSTGRES), not settings."""

_SCHEMES = {
    "redis_url": ("redis://", "rediss://", "unix://"),
    "memory_url": ("sqlite:///", "postgresql://", "postgres://"),
    "runs_url": ("sqlite:///", "postgresql://", "postgres://"),
}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "mainspring"


class MCPKey(BaseModel):
    """One bearer key for `mainspring mcp serve --transport http`, and the scopes it grants."""

    key: SecretStr
    scopes: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """Deployment settings. Every field can be set in mainspring.toml or as MAINSPRING_<NAME>."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where SQLite files and logs live by default ($XDG_DATA_HOME/mainspring)."""
    model: str = "local:smollm2"
    """The default model, as `provider:model`."""
    base_url: str | None = None
    """Endpoint for OpenAI-compatible servers (vLLM, Ollama, llama.cpp's server)."""
    api_key: SecretStr | None = None
    """Key for the model provider; else OPENAI_API_KEY / ANTHROPIC_API_KEY. Never printed."""
    redis_url: str | None = None
    """Share rate limits, breakers and cache through this Redis (in-process when unset)."""
    memory_url: str | None = None
    """The memory store: sqlite:///file.db or postgresql://...; default <data_dir>/memory.db."""
    runs_url: str | None = None
    """The run store: sqlite:///file.db or postgresql://...; default <data_dir>/runs.db."""
    audit_log: str | None = None
    """The audit log: a .jsonl or .db path, or postgresql://...; default <data_dir>/audit.jsonl."""
    event_log: Path | None = None
    """JSON-lines file of tool-call events; default <data_dir>/events.jsonl."""
    default_tool_timeout: float = Field(default=60.0, gt=0)
    """Seconds a tool may run when it declares no timeout of its own."""

    mcp_keys: dict[str, MCPKey] = Field(default_factory=dict)
    """Bearer keys of the MCP HTTP server by principal id, e.g. MAINSPRING_MCP_KEYS=
    '{"alice": {"key": "...", "scopes": ["admin"]}}' (until the service's key store serves it)."""

    server: dict[str, Any] = Field(default_factory=dict[str, Any])
    """The `[server]` table, validated by `mainspring.server.ServerSettings` when serving."""

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("redis_url", "memory_url", "runs_url")
    @classmethod
    def _check_scheme(cls, value: str | None, info: Any) -> str | None:
        schemes = _SCHEMES[info.field_name]
        if value is not None and not value.startswith(schemes):
            raise ValueError(f"{value!r} must start with {' or '.join(schemes)}")
        return value

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
        path, _ = config_file()
        return (init_settings, env_settings, ValuesSource(settings_cls, read_config_file(path)))

    @property
    def origins(self) -> Mapping[str, str]:
        """Where each setting came from: "default", "option", "env NAME" or "file PATH"."""
        return self._origins

    @property
    def memory_store_url(self) -> str:
        """The memory store URL, defaulted under the data directory."""
        return self.memory_url or f"sqlite:///{self.data_dir / 'memory.db'}"

    @property
    def runs_store_url(self) -> str:
        """The run store URL, defaulted under the data directory."""
        return self.runs_url or f"sqlite:///{self.data_dir / 'runs.db'}"

    @property
    def audit_log_location(self) -> str:
        """The audit log path or URL, defaulted under the data directory."""
        return self.audit_log or str(self.data_dir / "audit.jsonl")

    @property
    def event_log_path(self) -> Path:
        """The event log file, defaulted under the data directory."""
        return self.event_log or self.data_dir / "events.jsonl"

    def where(self, name: str) -> str:
        """How to change a setting, for error messages: "MAINSPRING_X" or "x in <file>"."""
        origin = self._origins.get(name, "default")
        if origin.startswith("file "):
            return f"{name} in {origin.removeprefix('file ')}"
        if origin == "option":
            return f"the --{name.replace('_', '-')} option"
        return env_name(name)

    def shown(self) -> dict[str, Any]:
        """Every setting as printable JSON values, secrets and URL passwords masked."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********"
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, str) and "://" in value:
                value = mask_url(value)
            values[name] = value
        return values


class ValuesSource(PydanticBaseSettingsSource):
    """Settings values already read into a dict.

    A TOML file (`read_config_file`), or a table of one that another settings class layers (the
    service's `[server]`).
    """

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` returns the whole file at once."""
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        """All the values at once."""
        return dict(self.values)


def env_name(field: str) -> str:
    """The environment variable of a setting."""
    return ENV_PREFIX + field.upper()


def config_file() -> tuple[Path, bool]:
    """The settings file, and whether it was named explicitly (then it must exist)."""
    named = os.environ.get(CONFIG_VARIABLE)
    if named:
        return Path(named), True
    return Path(DEFAULT_CONFIG_FILE), False


def read_config_file(path: Path, *, required: bool | None = None) -> dict[str, Any]:
    """The file's settings ({} if it is the default file and absent), errors explained."""
    if required is None:
        required = config_file()[1] and path == config_file()[0]
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if not required:
            return {}
        raise ConfigurationError(
            f"{CONFIG_VARIABLE} names {str(path)!r}, which does not exist; create it or unset "
            f"{CONFIG_VARIABLE} to use ./{DEFAULT_CONFIG_FILE}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"{str(path)!r} is not valid TOML ({exc}); fix that line (strings need quotes: "
            'model = "openai:gpt-4o-mini")'
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read settings file {str(path)!r}: {exc.strerror or exc}"
        ) from None


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***` (safe to print)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _unknown_variables() -> list[str]:
    known = {env_name(name) for name in Settings.model_fields} | OTHER_VARIABLES
    return sorted(
        name
        for name in os.environ
        if name.upper().startswith(ENV_PREFIX)
        and name.upper() not in known
        and not name.upper().startswith((TEST_PREFIX, SERVER_PREFIX))
    )


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _origin(
    name: str, file_values: Mapping[str, Any], path: Path, overrides: Mapping[str, Any]
) -> str:
    if name in overrides:
        return "option"
    variable = env_name(name)
    if any(key.upper() == variable for key in os.environ):
        return f"env {variable}"
    if name in file_values:
        return f"file {path}"
    return "default"


def _explain(exc: ValidationError, origins: Mapping[str, str]) -> str:
    known = list(Settings.model_fields)
    problems = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"])
        where = origins.get(name, "default")
        if where.startswith("env "):
            source = f"{name} ({where.removeprefix('env ')})"
        elif where.startswith("file "):
            source = f"{name} in {where.removeprefix('file ')}"
        else:
            source = name
        if error["type"] == "extra_forbidden":
            problems.append(f"{source}: unknown setting{_suggest(name, known)}")
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{source} = {error.get('input')!r}: {message}")
    return "; ".join(problems)


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning every mistake into one clear `ConfigurationError`."""
    unknown = _unknown_variables()
    if unknown:
        names = [env_name(name) for name in Settings.model_fields]
        hints = ", ".join(f"{name}{_suggest(name, names)}" for name in unknown)
        raise ConfigurationError(
            f"unknown environment variable {hints}; the settings are {', '.join(names)}"
        )
    path, _ = config_file()
    file_values = read_config_file(path)
    fields = set(Settings.model_fields) | set(file_values)
    origins = {name: _origin(name, file_values, path, overrides) for name in fields}
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        known = ""
        if any(e["type"] == "extra_forbidden" for e in exc.errors()):
            known = f" (the settings are {', '.join(Settings.model_fields)})"
        raise ConfigurationError(f"invalid settings: {_explain(exc, origins)}{known}") from None
    except SettingsError as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from None
    settings._origins = {name: origins[name] for name in Settings.model_fields}
    return settings
