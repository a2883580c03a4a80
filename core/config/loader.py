"""Typed configuration, checked once at start-up.

The configuration is a TOML file plus environment overrides. A variable
``POCKETDESK_<SECTION>__<KEY>`` replaces ``key`` in ``[section]`` (the environment wins over the
file), so secrets such as the bot token can stay out of the file. Every mistake (missing file, bad
TOML, wrong type, unknown key, missing key) raises ``ConfigError`` naming the key path and the
fix (worded by ``core.config.messages``); no message ever carries a secret's value.

The sections are in ``core.config.sections``, the ``[[accounts]]`` tables in
``core.config.accounts``, the environment's part in ``core.config.env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from core.config.accounts import AccountConfig
from core.config.env import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    Load,
    current_load,
    loading,
)
from core.config.messages import (
    describe_error,
    read_toml,
    settings_problem,
    validation_problem,
)
from core.config.sections import (
    ConfirmationsConfig,
    ExitsConfig,
    LoggingConfig,
    LoginConfig,
    MonitorConfig,
    RiskConfig,
    ScheduleConfig,
    StorageConfig,
    SyncConfig,
    TelegramConfig,
)
from core.domain.errors import ConfigError


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
        load = current_load()
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
    problem: str | None = None
    with loading(Load(file_data=data, environ=environ)):
        try:
            return AppConfig()
        except ValidationError as err:
            from_env = _MappingEnvSource(AppConfig, environ)()
            problem = validation_problem(
                origin, err, from_env, top_level=AppConfig.model_fields, sections=_SECTION_MODELS
            )
        except SettingsError as err:
            problem = settings_problem(origin, err)
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
