"""Shared helpers for the paper broker tests: a small instrument list with round prices."""

from __future__ import annotations

from decimal import Decimal

from brokers.paper.config import PaperSettings
from brokers.paper.exchange import PaperExchange
from brokers.paper.instruments import InstrumentMaster
from brokers.paper.state import StateFile
from core.broker import OrderUpdate
from core.domain.clock import ManualClock
from core.domain.models import InstrumentId, OrderRequest, OrderType, Product, Side, Validity

ACCOUNT = "paper-test"

# Round prices keep the P&L arithmetic in the tests checkable by eye.
TEST_CSV = """exchange,symbol,name,currency,tick_size,lot_size,price
NSE,AAA,Alpha,INR,0.05,1,100.00
NSE,BBB,Beta,INR,0.05,1,200.00
NSE,LOT5,Five a lot,INR,0.05,5,50.00
NASDAQ,USD1,Dollar stock,USD,0.01,1,10.00
"""

AAA = InstrumentId("NSE", "AAA")
BBB = InstrumentId("NSE", "BBB")
LOT5 = InstrumentId("NSE", "LOT5")
USD1 = InstrumentId("NASDAQ", "USD1")


def small_master() -> InstrumentMaster:
    """The four test instruments."""
    return InstrumentMaster.from_csv_text(TEST_CSV)


def quiet_settings(**overrides: object) -> PaperSettings:
    """Settings whose random feed never steps during a test; prices come from ``set_price``."""
    values: dict[str, object] = {"tick_interval_s": 3600.0, "cash": Decimal(100_000)}
    values.update(overrides)
    return PaperSettings.model_validate(values)


def make_exchange(
    store: StateFile | None = None, **overrides: object
) -> tuple[PaperExchange, list[OrderUpdate]]:
    """An exchange on the test instruments and a manual clock, and the list its updates go to."""
    exchange = PaperExchange(
        ACCOUNT, quiet_settings(**overrides), small_master(), ManualClock(), store=store
    )
    updates: list[OrderUpdate] = []
    exchange.on_update = updates.append
    return exchange, updates


def request(
    instrument: InstrumentId = AAA,
    side: Side = Side.BUY,
    quantity: int = 10,
    order_type: OrderType = OrderType.MARKET,
    price: str | None = None,
    trigger: str | None = None,
    product: Product = Product.CNC,
    validity: Validity = Validity.DAY,
) -> OrderRequest:
    """An order request for the test account, prices given as strings."""
    return OrderRequest(
        account=ACCOUNT,
        instrument=instrument,
        side=side,
        quantity=quantity,
        order_type=order_type,
        price=Decimal(price) if price is not None else None,
        trigger_price=Decimal(trigger) if trigger is not None else None,
        product=product,
        validity=validity,
    )
