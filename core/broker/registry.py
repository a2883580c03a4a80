"""Broker kinds by name (registered by the composition root) and the connected accounts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.broker.protocol import Broker
from core.domain.errors import ConfigError, UserError

BrokerFactory = Callable[[str, Mapping[str, Any]], Broker]
"""Builds a broker from an account name and its broker-specific settings (already validated)."""


@dataclass(slots=True)
class BrokerKind:
    """A broker implementation the composition root registered."""

    name: str
    factory: BrokerFactory
    validate_settings: Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(slots=True)
class BrokerRegistry:
    """Broker kinds by name, and the connected accounts by account name."""

    kinds: dict[str, BrokerKind] = field(default_factory=dict)
    accounts: dict[str, Broker] = field(default_factory=dict)

    def register_kind(self, kind: BrokerKind) -> None:
        self.kinds[kind.name] = kind

    def kind(self, name: str) -> BrokerKind:
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(sorted(self.kinds)) or "none"
            raise ConfigError(f"unknown broker {name!r}; known brokers: {known}") from None

    def add_account(self, broker: Broker) -> None:
        if broker.account in self.accounts:
            raise ConfigError(f"account name {broker.account!r} is used twice")
        self.accounts[broker.account] = broker

    def get(self, account: str) -> Broker:
        try:
            return self.accounts[account]
        except KeyError:
            known = ", ".join(self.accounts) or "none"
            raise UserError(f"no account named {account!r} (accounts: {known})") from None

    def names(self) -> list[str]:
        return list(self.accounts)
