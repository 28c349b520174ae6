"""Settings, read from the environment with the prefix ``NBO_``.

``NBO_DATABASE_URL`` selects the store; the embedded default is SQLite in the
working directory. PostgreSQL URLs use psycopg 3
(``postgresql+psycopg://user@host:5432/db``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from nbo_engine.errors import ConfigError

__all__ = ["Settings", "cron_problem", "get_settings", "load_settings"]

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
    attribution_days: float = Field(
        default=30.0,
        gt=0.0,
        le=365.0,
        description="Days after a decision within which a response counts "
        "(the reward fold-in waits this long before it folds a decision)",
    )
    retune_mode: Literal["propose", "auto"] = Field(
        default="propose",
        description="Weekly retune: propose a new policy version for a campaign "
        "manager to approve (`nbo policy approve`), or apply it when every "
        "guardrail holds",
    )
    retune_lookback_weeks: int = Field(
        default=4,
        ge=1,
        le=52,
        description="Weeks of decisions (ending with the week retuned) the weekly "
        "retune reads as its evidence",
    )
    retune_guardrails: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the retune's guardrails (names and bounds in "
        "docs/retune.md), as JSON, e.g. "
        '{"min_treated": 100, "min_control": 100, "max_changes": 3}',
    )
    reports_dir: str = Field(
        default="reports", description="Folder the weekly job writes reports to"
    )
    weekly_forecast: bool = Field(
        default=True, description="The weekly job also forecasts 13 weeks ahead"
    )

    # -------------------------------------------------------------- jobs
    # Cron expressions are UTC: minute hour day month day-of-week, with an
    # optional leading seconds field; day-of-week by name (see cron_problem).
    # The cron says when the scheduler looks for ended periods; what runs is
    # decided by the job's period (hourly, daily, weekly) and job_runs.
    schedule_fold_rewards: str = Field(
        default="5 * * * *", description="cron (UTC) of the hourly reward fold"
    )
    schedule_refresh_scores: str = Field(
        default="30 2 * * *", description="cron (UTC) of the nightly score refresh"
    )
    schedule_monitor: str = Field(
        default="30 4 * * *", description="cron (UTC) of the daily monitoring job"
    )
    schedule_weekly: str = Field(
        default="0 6 * * mon", description="cron (UTC) of the weekly evaluation job"
    )
    #: At most this many ended periods per job are run in one go (oldest
    #: first) after downtime; older missed periods are skipped.
    catch_up_fold_rewards: int = Field(default=24, ge=1, le=10_000)
    catch_up_refresh_scores: int = Field(default=1, ge=1, le=1_000)
    catch_up_monitor: int = Field(default=3, ge=1, le=1_000)
    catch_up_weekly: int = Field(default=2, ge=1, le=1_000)
    #: Attempts the scheduler makes at a failed, abandoned or dead period.
    job_max_attempts: int = Field(default=2, ge=1, le=100)
    job_heartbeat_seconds: float = Field(default=30.0, gt=0, le=3_600)
    #: A running claim whose heartbeat is older than this is taken over.
    job_stale_seconds: float = Field(default=300.0, gt=0, le=86_400)
    #: On SIGTERM/SIGINT, how long a running job may take to finish before
    #: it is recorded as abandoned and the scheduler exits.
    scheduler_grace_seconds: float = Field(default=60.0, ge=0, le=86_400)
    scheduler_threads: int = Field(default=4, ge=1, le=64)

    @field_validator(
        "schedule_fold_rewards",
        "schedule_refresh_scores",
        "schedule_monitor",
        "schedule_weekly",
    )
    @classmethod
    def _cron(cls, value: str, info: ValidationInfo) -> str:
        problem = cron_problem(value)
        if problem is not None:
            raise ConfigError(f"NBO_{str(info.field_name).upper()}: {problem}")
        return value.strip()

    @field_validator("retune_guardrails")
    @classmethod
    def _guardrails(cls, value: dict[str, Any]) -> dict[str, Any]:
        _build_guardrails(value)
        return value

    def guardrails(self) -> Any:
        """The retune's :class:`~nbo_engine.retune.Guardrails` with this
        process's overrides (``NBO_RETUNE_GUARDRAILS``)."""
        return _build_guardrails(self.retune_guardrails)

    @model_validator(mode="after")
    def _stale_after_heartbeats(self) -> Settings:
        if self.job_stale_seconds < 3 * self.job_heartbeat_seconds:
            raise ConfigError(
                f"NBO_JOB_STALE_SECONDS: got {self.job_stale_seconds:g}, expected at "
                "least 3 x NBO_JOB_HEARTBEAT_SECONDS "
                f"({3 * self.job_heartbeat_seconds:g}) so a live run is never "
                "taken for a dead one"
            )
        return self

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


def _build_guardrails(value: dict[str, Any]) -> Any:
    from dataclasses import fields

    from nbo_engine.errors import RetuneError
    from nbo_engine.retune.guardrails import Guardrails

    known = sorted(f.name for f in fields(Guardrails))
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError(
            f"NBO_RETUNE_GUARDRAILS: unknown guardrail(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(known)}"
        )
    try:
        return Guardrails(**value)
    except RetuneError as exc:
        raise ConfigError(f"NBO_RETUNE_GUARDRAILS: {exc}") from None


_CRON_FIELDS = ("minute", "hour", "day", "month", "day-of-week")
_CRON_TOKEN = re.compile(r"^[0-9a-z*,/\-]+$")


def cron_problem(expr: str) -> str | None:
    """What is wrong with cron expression ``expr``, or None if it looks right.

    Accepted: ``minute hour day month day-of-week`` (crontab order), or the
    same with a leading ``second`` field. Day-of-week must be written by name
    (``mon-fri``, ``sun``): apscheduler 3 counts 0 as Monday where crontab
    counts 0 as Sunday, so a number would silently fire on the wrong day.
    The scheduler parses the expression fully at start.

    Examples
    --------
    >>> cron_problem("0 6 * * mon") is None
    True
    >>> cron_problem("0 6 * * 1")
    "day-of-week '1' is a number; write day names (mon, tue, ..., sun): apscheduler 3 counts 0 as Monday, crontab counts 0 as Sunday"
    """
    fields = expr.lower().split()
    if len(fields) not in (5, 6):
        return (
            f"expected 5 cron fields ({' '.join(_CRON_FIELDS)}) or 6 with a "
            f"leading second, got {len(fields)} in {expr!r}"
        )
    names = (("second",) if len(fields) == 6 else ()) + _CRON_FIELDS
    for name, value in zip(names, fields, strict=True):
        if not _CRON_TOKEN.match(value):
            return (
                f"{name} field {value!r} in {expr!r} has characters cron does not use"
            )
    dow = fields[-1]
    if any(c.isdigit() for part in dow.split(",") for c in part.split("/")[0]):
        return (
            f"day-of-week {dow!r} is a number; write day names (mon, tue, ..., "
            "sun): apscheduler 3 counts 0 as Monday, crontab counts 0 as Sunday"
        )
    return None


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
