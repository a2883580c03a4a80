"""Domain values: instruments, orders, fills, positions, quotes and ticks.

Money and prices are ``Decimal`` everywhere; quantities are whole units (``int``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from enum import StrEnum
from typing import Any


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-limit: trigger_price and price
    SL_M = "SL-M"  # stop-market: trigger_price only


class Product(StrEnum):
    MIS = "MIS"  # intraday
    CNC = "CNC"  # delivery
    NRML = "NRML"  # carry-forward derivatives


class Validity(StrEnum):
    DAY = "DAY"
    IOC = "IOC"


class OrderPurpose(StrEnum):
    ENTRY = "entry"  # opens or adds to a position
    EXIT = "exit"  # closes a position: /exit, or an exit rule firing


class OrderStatus(StrEnum):
    """The one vocabulary of order states inside pocketdesk (``order_fsm`` moves them)."""

    PENDING_SUBMIT = "PENDING_SUBMIT"  # intent persisted; the broker call is under way
    UNKNOWN = "UNKNOWN"  # the call may have reached the broker; sync settles it
    OPEN = "OPEN"  # working at the broker (includes trigger-pending stops)
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    LOST = "LOST"  # not found at the broker after the search bound; never re-sent

    @property
    def is_terminal(self) -> bool:
        """Terminal in the usual course; late broker reports may still move some of them."""
        return self in _TERMINAL

    @property
    def is_in_flight(self) -> bool:
        """The order may still change at the broker and must be watched."""
        return self not in _TERMINAL


_TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.LOST,
    }
)

_INSTRUMENT_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}:[A-Z0-9][A-Z0-9&_.\-]{0,39}$")


@dataclass(frozen=True, slots=True, order=True)
class InstrumentId:
    """An exchange-qualified symbol, written ``EXCHANGE:SYMBOL`` (``NSE:RELIANCE``)."""

    exchange: str
    symbol: str

    @classmethod
    def parse(cls, text: str, default_exchange: str | None = None) -> InstrumentId:
        """Parse ``NSE:RELIANCE`` or, with a default exchange, a bare ``RELIANCE``."""
        value = text.strip().upper()
        if ":" not in value:
            if not default_exchange:
                raise ValueError(f"instrument {text!r} needs an exchange, like NSE:{value}")
            value = f"{default_exchange.upper()}:{value}"
        if not _INSTRUMENT_RE.match(value):
            raise ValueError(f"{text!r} is not a valid instrument (expected EXCHANGE:SYMBOL)")
        exchange, symbol = value.split(":", 1)
        return cls(exchange, symbol)

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class Instrument:
    """What the broker says about a tradable symbol."""

    id: InstrumentId
    tick_size: Decimal
    lot_size: int = 1
    currency: str = "INR"
    name: str = ""

    def round_price(self, price: Decimal, side: Side | None = None) -> Decimal:
        """Round to the tick size: to the nearest tick, or in the side's safer direction."""
        ticks = price / self.tick_size
        if side is Side.BUY:
            rounding = ROUND_DOWN
        elif side is Side.SELL:
            rounding = ROUND_UP
        else:
            rounding = ROUND_HALF_UP
        whole = ticks.quantize(Decimal(1), rounding=rounding)
        return (whole * self.tick_size).quantize(self.tick_size)

    def is_on_tick(self, price: Decimal) -> bool:
        return price % self.tick_size == 0

    def is_whole_lots(self, quantity: int) -> bool:
        return quantity > 0 and quantity % self.lot_size == 0


@dataclass(frozen=True, slots=True)
class ExitSpec:
    """Exit rules requested with an order; armed when the entry fills.

    Each of ``stop_loss`` and ``target`` is a price, or a percentage when the ``*_pct`` flag is set.
    """

    stop_loss: Decimal | None = None
    stop_loss_pct: bool = False
    target: Decimal | None = None
    target_pct: bool = False
    trail_pct: Decimal | None = None

    @property
    def empty(self) -> bool:
        return self.stop_loss is None and self.target is None and self.trail_pct is None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the trader asked for, before it becomes an order."""

    account: str
    instrument: InstrumentId
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    product: Product = Product.CNC
    validity: Validity = Validity.DAY
    exits: ExitSpec = field(default_factory=ExitSpec)

    def validate(self) -> None:
        """Raise ``ValueError`` when the request is inconsistent in itself."""
        if self.quantity <= 0:
            raise ValueError("quantity must be a positive whole number")
        needs_price = self.order_type in (OrderType.LIMIT, OrderType.SL)
        needs_trigger = self.order_type in (OrderType.SL, OrderType.SL_M)
        if needs_price and (self.price is None or self.price <= 0):
            raise ValueError(f"a {self.order_type} order needs a positive price")
        if not needs_price and self.price is not None:
            raise ValueError(f"a {self.order_type} order takes no price")
        if needs_trigger and (self.trigger_price is None or self.trigger_price <= 0):
            raise ValueError(f"a {self.order_type} order needs a positive trigger price")
        if not needs_trigger and self.trigger_price is not None:
            raise ValueError(f"a {self.order_type} order takes no trigger price")


@dataclass(frozen=True, slots=True)
class Order:
    """An order as pocketdesk knows it; changes only through ``core.domain.order_fsm.apply``."""

    client_order_id: str
    request: OrderRequest
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    broker_order_id: str | None = None
    filled_quantity: int = 0
    average_price: Decimal | None = None
    message: str = ""
    version: int = 0
    purpose: OrderPurpose = OrderPurpose.ENTRY

    @property
    def account(self) -> str:
        return self.request.account

    @property
    def instrument(self) -> InstrumentId:
        return self.request.instrument

    @property
    def remaining_quantity(self) -> int:
        return self.request.quantity - self.filled_quantity


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution reported by the broker."""

    fill_id: str
    broker_order_id: str
    instrument: InstrumentId
    side: Side
    quantity: int
    price: Decimal
    time: datetime
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The broker's view of one order, translated into core vocabulary.

    ``raw`` keeps the broker's payload for debugging; nothing in core reads it.
    """

    account: str
    broker_order_id: str
    instrument: InstrumentId
    side: Side
    quantity: int
    status: OrderStatus
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.CNC
    client_order_id: str | None = None
    filled_quantity: int = 0
    average_price: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    message: str = ""
    time: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Position:
    """A net position at the broker. ``quantity`` is signed: negative is short."""

    account: str
    instrument: InstrumentId
    product: Product
    quantity: int
    average_price: Decimal
    last_price: Decimal
    realised_pnl: Decimal = Decimal(0)
    currency: str = "INR"

    @property
    def unrealised_pnl(self) -> Decimal:
        return (self.last_price - self.average_price) * self.quantity

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0


@dataclass(frozen=True, slots=True)
class Balance:
    """Funds at the broker."""

    account: str
    currency: str
    cash: Decimal
    available: Decimal
    used_margin: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Quote:
    """A snapshot of one instrument's market."""

    instrument: InstrumentId
    last_price: Decimal
    time: datetime
    bid: Decimal | None = None
    ask: Decimal | None = None
    volume: int | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A market-data stream saying it is alive although nothing traded (Kite's 1-byte frame)."""

    time: datetime


@dataclass(frozen=True, slots=True)
class Tick:
    """One market-data update from a stream."""

    instrument: InstrumentId
    last_price: Decimal
    time: datetime
    volume: int | None = None
