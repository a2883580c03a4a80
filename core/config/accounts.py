"""The ``[[accounts]]`` tables of the configuration, and their check by each broker kind.

Each ``[[accounts]]`` table has keys of its own (``name``, ``broker``, ``default_exchange``,
``exit_band_pct``, ``exit_dwell_s``, ``risk``); every other key in it is broker-specific and is
collected into ``AccountConfig.settings``, which ``validate_accounts`` hands to the broker kind
to check.

``validate_accounts`` takes what it checks against (the ``[risk]`` defaults and each broker
kind's settings checker), so the configuration needs neither the loader nor the broker registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.config.env import resolve_env_refs
from core.config.messages import describe_error
from core.config.sections import RiskConfig
from core.domain.errors import ConfigError

SettingsCheck = Callable[[Mapping[str, Any]], Mapping[str, Any]]
"""A broker kind's check of an account's settings: the settings made valid, or an error."""

_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ACCOUNT_OWN_KEYS = frozenset(
    {"name", "broker", "default_exchange", "exit_band_pct", "exit_dwell_s", "risk"}
)


class AccountConfig(BaseModel):
    """One ``[[accounts]]`` table. Keys that are not pocketdesk's own go to ``settings``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    broker: str
    default_exchange: str | None = None
    exit_band_pct: Decimal | None = Field(default=None, ge=0, lt=10)
    exit_dwell_s: float | None = Field(default=None, ge=0, le=60)
    risk: dict[str, Any] = Field(default_factory=dict)  # overrides of [risk] for this account
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_settings(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        explicit = data.get("settings", {})
        if not isinstance(explicit, Mapping):
            return data  # let the field validation name accounts[i].settings
        loose = {k: v for k, v in data.items() if k not in ACCOUNT_OWN_KEYS and k != "settings"}
        clash = sorted(set(explicit) & set(loose))
        if clash:
            raise ValueError(
                f"key {clash[0]!r} is given both in the account table and in its settings "
                "sub-table; keep one"
            )
        own = {k: v for k, v in data.items() if k in ACCOUNT_OWN_KEYS}
        return {**own, "settings": {**explicit, **loose}}

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _ACCOUNT_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid account name; use 1-32 letters, digits, '-' or '_'"
            )
        return value

    @field_validator("broker")
    @classmethod
    def _valid_broker(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('must name a broker, e.g. broker = "paper"')
        return value.strip()

    @field_validator("default_exchange")
    @classmethod
    def _exchange_code(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError('must be an exchange code such as "NSE", or be left out')
        return value.strip().upper() if value is not None else None

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # The settings are opaque to core and may hold broker secrets: show the keys only.
        for name, value in super().__repr_args__():
            yield name, (_MaskedValues(value) if name == "settings" else value)


class _MaskedValues:
    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._keys = list(settings)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key!r}: '***'" for key in self._keys) + "}"


def validate_accounts(
    accounts: Iterable[AccountConfig],
    risk: RiskConfig,
    checks: Mapping[str, SettingsCheck],
    stored: Mapping[str, Mapping[str, str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[tuple[AccountConfig, Mapping[str, Any]]]:
    """Check each account's settings with its broker kind; return (account, validated settings).

    ``checks`` maps a broker kind's name to its settings check. ``"env:NAME"`` values are read
    from the environment (``environ``, default ``os.environ``); ``stored`` secrets
    (``core.access.secret_store``) fill keys the file leaves out.

    A broker kind reports a bad setting as ``ConfigError("key: what is wrong")``; it is re-raised
    as ``accounts[i] (NAME).key: ...`` so the message names the full key.
    """
    result: list[tuple[AccountConfig, Mapping[str, Any]]] = []
    for index, account in enumerate(accounts):
        where = f"accounts[{index}] ({account.name})"
        if account.broker not in checks:
            known = ", ".join(sorted(checks)) or "none"
            raise ConfigError(
                f"{where}.broker: unknown broker {account.broker!r}; known brokers: {known}"
            )
        problem = ""
        try:
            risk.merged(account.risk)
        except ValidationError as err:
            problem = "; ".join(
                describe_error(
                    e, f"{where}.risk", {}, top_level=type(risk).model_fields, sections={}
                )
                for e in err.errors()
            )
        if problem:
            raise ConfigError(problem)
        given = resolve_env_refs(account.settings, where, environ)
        # A null (JSON from the environment) leaves the key to the stored secret.
        given = {key: value for key, value in given.items() if value is not None}
        merged = {**(stored or {}).get(account.name, {}), **given}
        try:
            settings = checks[account.broker](merged)
        except ConfigError as err:
            problem = f"{where}.{err}"
        except ValidationError as err:
            problem = "; ".join(
                describe_error(e, where, {}, top_level={}, sections={}) for e in err.errors()
            )
        if problem:
            # Raised outside the except block so no chained error can carry a setting's value.
            raise ConfigError(problem)
        result.append((account, settings))
    return result
