"""The port: everything an adapter may know of core besides ``core.domain`` and ``core.runtime``."""

from core.broker.protocol import (
    Broker,
    Capabilities,
    InstrumentsRefreshable,
    LoginCapable,
    OrderUpdate,
    RateLimit,
)
from core.broker.registry import BrokerFactory, BrokerKind, BrokerRegistry

__all__ = [
    "Broker",
    "BrokerFactory",
    "BrokerKind",
    "BrokerRegistry",
    "Capabilities",
    "InstrumentsRefreshable",
    "LoginCapable",
    "OrderUpdate",
    "RateLimit",
]
