"""Typed configuration, checked once at start-up.

The configuration is a TOML file plus environment overrides. A variable
``POCKETDESK_<SECTION>__<KEY>`` replaces ``key`` in ``[section]`` (the environment wins over the
file), so secrets such as the bot token can stay out of the file. Every mistake (missing file, bad
TOML, wrong type, unknown key, missing key) raises ``ConfigError`` naming the key path and the
fix (worded by ``core.config_errors``); no message ever carries a secret's value.

The ``[[accounts]]`` tables and their check by each broker kind live in ``core.config_accounts``;
``AccountConfig`` and ``validate_accounts`` are importable from here as well.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from core.config_accounts import ENV_REF, AccountConfig, validate_accounts
from core.config_errors import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    describe_error,
    read_toml,
    settings_problem,
    validation_problem,
)
from core.config_sections import LoginConfig, RiskConfig, ScheduleConfig, Section
from core.domain.errors import ConfigError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class StorageConfig(Section):
    """``[storage]``: where the SQLite database lives (relative paths are from the cwd).

    ``synchronous``: with "normal" a commit survives any crash of pocketdesk itself but the
    last commits may be lost if the machine loses power (start-up then adopts orders the
    broker has under pocketdesk's ids); "full" waits for the disk on every commit, which
    costs a few tenths of a millisecond on every order and exit.
    """

    path: str = "pocketdesk.db"
    synchronous: Literal["normal", "full"] = "normal"

    @field_validator("path")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('must not be empty; write e.g. path = "pocketdesk.db"')
        return value


def _user_ids(value: Any) -> Any:
    """Accept ``"1,2"`` or ``"[1, 2]"`` from an environment variable; TOML lists pass through."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("expected a list of user ids, e.g. [123456789, 987654321]") from None
    return [part.strip() for part in text.split(",") if part.strip()]


UserIds = Annotated[list[int], NoDecode]


class TelegramConfig(Section):
    """``[telegram]``: the bot token and who may use the bot (deny by default)."""

    token: SecretStr
    api_url: str = "https://api.telegram.org/bot"
    owners: UserIds
    viewers: UserIds = Field(default_factory=list)

    @field_validator("token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        # Never echo the value: a trailing newline from a secret file is stripped silently.
        stripped = value.get_secret_value().strip()
        if stripped.startswith(ENV_REF):
            name = stripped[len(ENV_REF) :].strip()
            load = _LOAD.get()
            environ = os.environ if load is None else load.environ
            if name not in environ:
                raise ValueError(f"names the environment variable {name!r}, which is not set")
            stripped = environ[name].strip()
        if not stripped:
            raise ValueError("must not be empty; paste the token @BotFather gave you")
        return SecretStr(stripped)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                'must start with http:// or https://, e.g. "https://api.telegram.org/bot"'
            )
        return value

    @field_validator("owners", "viewers", mode="before")
    @classmethod
    def _parse_ids(cls, value: Any) -> Any:
        return _user_ids(value)

    @field_validator("owners", "viewers")
    @classmethod
    def _positive_ids(cls, value: list[int]) -> list[int]:
        bad = [uid for uid in value if uid <= 0]
        if bad:
            raise ValueError(f"{bad[0]} is not a Telegram user id; user ids are positive numbers")
        return list(dict.fromkeys(value))

    @field_validator("owners")
    @classmethod
    def _at_least_one_owner(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError(
                "needs at least one Telegram user id: nobody else is served; "
                "write e.g. owners = [123456789] (ask @userinfobot for your id)"
            )
        return value

    @model_validator(mode="after")
    def _roles_disjoint(self) -> TelegramConfig:
        both = sorted(set(self.owners) & set(self.viewers))
        if both:
            raise ValueError(
                f"user {both[0]} is in both telegram.owners and telegram.viewers; "
                "keep each user in one list (owners can already read everything)"
            )
        return self


class ConfirmationsConfig(Section):
    """``[confirmations]``: how long a [Confirm] button stays valid."""

    ttl_s: float = Field(default=60.0, gt=0)


class SyncConfig(Section):
    """``[sync]``: how often in-flight and open orders are polled at the broker."""

    poll_interval_s: float = Field(default=2.0, gt=0)


class MonitorConfig(Section):
    """``[monitor]``: the tick monitor's watchdog and its polling fallback."""

    stale_after_s: float = Field(default=3.0, gt=0)
    poll_interval_s: float = Field(default=1.0, gt=0)


class ExitsConfig(Section):
    """``[exits]``: the spike buffer every exit rule gets unless its account says otherwise.

    A crossing counts only ``band_pct`` beyond the trigger and when it still holds on a tick
    ``dwell_s`` after the first crossing tick.
    """

    band_pct: Decimal = Field(default=Decimal(0), ge=0, lt=10)
    dwell_s: float = Field(default=1.0, ge=0, le=60)


class LoggingConfig(Section):
    """``[logging]``: the root log level."""

    level: LogLevel = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class _Load:
    file_data: Mapping[str, Any]
    environ: Mapping[str, str]


_LOAD: ContextVar[_Load | None] = ContextVar("pocketdesk_config_load", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """The parsed TOML file, passed through untouched so unknown keys reach validation."""

    def __init__(self, settings_cls: type[BaseSettings], data: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = dict(data)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._environ)
        return {key.lower(): value for key, value in self._environ.items()}


class AppConfig(BaseSettings):
    """The whole configuration. Build it with ``load_config`` or ``demo_config``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    storage: StorageConfig = Field(default_factory=StorageConfig)
    telegram: TelegramConfig | None = None
    confirmations: ConfirmationsConfig = Field(default_factory=ConfirmationsConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    exits: ExitsConfig = Field(default_factory=ExitsConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    login: LoginConfig = Field(default_factory=LoginConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    accounts: list[AccountConfig] = Field(default_factory=list)

    @field_validator("accounts")
    @classmethod
    def _unique_names(cls, accounts: list[AccountConfig]) -> list[AccountConfig]:
        first: dict[str, int] = {}
        for index, account in enumerate(accounts):
            if account.name in first:
                raise ValueError(
                    f"account name {account.name!r} is used twice "
                    f"(accounts[{first[account.name]}].name and accounts[{index}].name); "
                    "give each account its own name"
                )
            first[account.name] = index
        return accounts

    def risk_for(self, account: str) -> RiskConfig:
        """The risk limits of one account: ``[risk]`` with the account's own overrides."""
        for candidate in self.accounts:
            if candidate.name == account:
                return self.risk.merged(candidate.risk)
        return self.risk

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Priority: keyword arguments, then the environment, then the file, then defaults."""
        load = _LOAD.get()
        if load is None:
            return (init_settings, env_settings)
        return (
            init_settings,
            _MappingEnvSource(settings_cls, load.environ),
            _FileSource(settings_cls, load.file_data),
        )

    @classmethod
    def describe(cls, error: ErrorDetails, base: str, from_env: Mapping[str, Any]) -> str:
        """One line for one pydantic error under ``base`` (see ``config_errors.describe_error``).

        Unknown keys are matched against this configuration's top-level keys and sections.
        """
        return describe_error(
            error, base, from_env, top_level=cls.model_fields, sections=_SECTION_MODELS
        )


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Read the TOML file at ``path`` (defaults only when None), apply the environment, check all.

    ``environ`` defaults to ``os.environ``. Raises ``ConfigError`` naming the key and the fix.
    """
    env = os.environ if environ is None else environ
    data: Mapping[str, Any] = {} if path is None else read_toml(Path(path))
    origin = "configuration" if path is None else f"config file {path}"
    return _build(data, env, origin)


def demo_config(workdir: Path) -> AppConfig:
    """The embedded configuration of ``pocketdesk demo``: two paper accounts, no Telegram.

    It ignores the environment, so a demo always starts the same way.
    """
    workdir = Path(workdir)
    data = {
        "storage": {"path": str(workdir / "pocketdesk-demo.db")},
        # The paper exchange runs around the clock, so the demo trades at any hour.
        "risk": {"market_hours": False},
        "accounts": [
            {
                "name": "paper",
                "broker": "paper",
                "default_exchange": "NSE",
                "cash": 1_000_000,
                "currency": "INR",
                "feed": "random",
                "seed": 7,
                "state_file": str(workdir / "pocketdesk-paper-paper.json"),
            },
            {
                "name": "paper-us",
                "broker": "paper",
                "default_exchange": "NASDAQ",
                "cash": 100_000,
                "currency": "USD",
                "feed": "random",
                "seed": 11,
                "state_file": str(workdir / "pocketdesk-paper-paper-us.json"),
            },
        ],
    }
    return _build(data, {}, "demo configuration")


def _build(data: Mapping[str, Any], environ: Mapping[str, str], origin: str) -> AppConfig:
    token = _LOAD.set(_Load(file_data=data, environ=environ))
    problem: str | None = None
    try:
        return AppConfig()
    except ValidationError as err:
        from_env = _MappingEnvSource(AppConfig, environ)()
        problem = validation_problem(
            origin, err, from_env, top_level=AppConfig.model_fields, sections=_SECTION_MODELS
        )
    except SettingsError as err:
        problem = settings_problem(origin, err)
    finally:
        _LOAD.reset(token)
    # Raised outside the except block: a chained ValidationError would print input values.
    raise ConfigError(problem)


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "storage": StorageConfig,
    "monitor": MonitorConfig,
    "exits": ExitsConfig,
    "risk": RiskConfig,
    "schedule": ScheduleConfig,
    "login": LoginConfig,
    "telegram": TelegramConfig,
    "confirmations": ConfirmationsConfig,
    "sync": SyncConfig,
    "logging": LoggingConfig,
}


__all__ = [
    "AccountConfig",
    "AppConfig",
    "ConfirmationsConfig",
    "LoggingConfig",
    "LoginConfig",
    "RiskConfig",
    "ScheduleConfig",
    "StorageConfig",
    "SyncConfig",
    "TelegramConfig",
    "demo_config",
    "load_config",
    "validate_accounts",
]
