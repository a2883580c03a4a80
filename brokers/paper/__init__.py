"""The built-in paper broker: a simulated exchange behind the ``Broker`` protocol.

Register ``KIND`` with the broker registry; accounts of kind ``paper`` then trade against seeded
random-walk prices (or a CSV price file) with real order handling, positions and funds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokers.paper.broker import PaperBroker
from brokers.paper.config import PaperSettings, validate_settings
from core.broker import BrokerKind
from core.domain.clock import SystemClock


def create_broker(account: str, settings: Mapping[str, Any]) -> PaperBroker:
    """Build a paper broker on the system clock from settings ``validate_settings`` returned."""
    return PaperBroker(account, PaperSettings.model_validate(dict(settings)), clock=SystemClock())


KIND = BrokerKind(name="paper", factory=create_broker, validate_settings=validate_settings)

__all__ = ["KIND", "PaperBroker", "PaperSettings", "create_broker", "validate_settings"]
