"""Zerodha Kite Connect: the broker adapter for Kite's REST API and WebSocket ticker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokers.zerodha.broker import ZerodhaBroker
from brokers.zerodha.config import ZerodhaSettings, validate_settings
from core.broker import BrokerKind


def create_broker(account: str, settings: Mapping[str, Any]) -> ZerodhaBroker:
    """Build a Kite account from settings ``validate_settings`` returned."""
    return ZerodhaBroker(account, ZerodhaSettings.model_validate(dict(settings)))


KIND = BrokerKind(name="zerodha", factory=create_broker, validate_settings=validate_settings)

__all__ = ["KIND", "ZerodhaBroker", "ZerodhaSettings", "create_broker", "validate_settings"]
