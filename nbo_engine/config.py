"""Settings, read from the environment with the prefix ``NBO_``.

``NBO_DATABASE_URL`` selects the store; the embedded default is SQLite in the
working directory. PostgreSQL URLs use psycopg 3
(``postgresql+psycopg://user@host:5432/db``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nbo_engine.errors import ConfigError

__all__ = ["Settings", "get_settings", "load_settings"]

_SUPPORTED_SCHEMES = ("sqlite", "postgresql")


class Settings(BaseSettings):
    """Process-wide settings. Only edges (CLI, API, scheduler, jobs) read them."""

    model_config = SettingsConfigDict(env_prefix="NBO_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///nbo.db", description="SQLAlchemy URL of the store"
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    ingest_chunk_rows: int = Field(default=200_000, ge=1_000)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in _SUPPORTED_SCHEMES:
            raise ConfigError(
                f"NBO_DATABASE_URL: unsupported database '{scheme}' in {value!r}; "
                f"expected one of {', '.join(_SUPPORTED_SCHEMES)}"
            )
        if scheme == "postgresql" and not value.startswith("postgresql+psycopg"):
            raise ConfigError(
                "NBO_DATABASE_URL: PostgreSQL URLs must use the psycopg 3 driver "
                f"('postgresql+psycopg://...'), got {value!r}"
            )
        return value


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and ``overrides``).

    Raises
    ------
    ConfigError
        Naming each bad setting, what was received and what was expected.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            field = "NBO_" + "_".join(str(p) for p in e["loc"]).upper()
            msg = str(e["msg"]).removeprefix("Value error, ")
            problems.append(msg if msg.startswith("NBO_") else f"{field}: {msg}")
        raise ConfigError("; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process (cached; tests call ``get_settings.cache_clear()``)."""
    return load_settings()
