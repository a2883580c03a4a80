"""Helpers for the Kite client tests: settings against the fake, limits that never wait."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from brokers.zerodha.client import KiteClient
from brokers.zerodha.config import ZerodhaSettings
from brokers.zerodha.limits import KiteLimits
from brokers.zerodha.parsing import order_params
from core.domain.models import InstrumentId, OrderRequest, OrderType, Side
from tests.fakes.kite import FakeKite

TAG = "pd0123456789abcdef"
INFY = InstrumentId("NSE", "INFY")
FORM_SETTINGS = ZerodhaSettings(api_key="fakekey", api_secret=SecretStr("fakesecret"))
LIMIT_BUY = OrderRequest("z1", INFY, Side.BUY, 10, OrderType.LIMIT, price=Decimal("1500.5"))


def settings_for(fake: FakeKite, **changes: Any) -> ZerodhaSettings:
    fields: dict[str, Any] = {
        "api_key": fake.api_key,
        "api_secret": SecretStr(fake.api_secret),
        "access_token": SecretStr(fake.access_token),
        "api_url": fake.api_url,
        "timeout_s": 2.0,
    }
    return ZerodhaSettings(**(fields | changes))


def unhurried() -> KiteLimits:
    """Limits that never make a test wait."""
    return KiteLimits.per_account(10_000, 10_000)


async def place(kite: KiteClient, request: OrderRequest = LIMIT_BUY, tag: str = TAG) -> str:
    """Place ``request`` the way the broker will: the form from ``order_params``."""
    return await kite.place_order("regular", order_params(request, tag, FORM_SETTINGS))
