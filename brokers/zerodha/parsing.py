"""Kite's vocabulary <-> core's, as module-level tables, and payload -> core value parsers.

Every Kite string that reaches core goes through a table here. A value no table knows raises
``UnexpectedPayload``: an order status we do not understand must not be guessed at, because
guessing "working" for a finished order (or the reverse) corrupts positions.

Kite sends times as ``"YYYY-MM-DD HH:MM:SS"`` in IST without a zone, and numbers as JSON numbers;
prices become ``Decimal`` through ``str`` so no binary float noise gets in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from brokers.zerodha.config import ZerodhaSettings
from brokers.zerodha.errors import UnexpectedPayload
from core.domain.errors import OrderDenied
from core.domain.models import (
    Balance,
    Fill,
    InstrumentId,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Quote,
    Side,
    Validity,
)

V = TypeVar("V")

IST = timezone(timedelta(hours=5, minutes=30), "IST")
TAG_MAX_LENGTH = 20
_TAG_RE = re.compile(rf"^[A-Za-z0-9]{{1,{TAG_MAX_LENGTH}}}$")
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


class Variety(StrEnum):
    """Kite's order varieties; it goes in the URL path, not the form."""

    REGULAR = "regular"
    AMO = "amo"
    CO = "co"
    ICEBERG = "iceberg"
    AUCTION = "auction"


# Kite order status -> core status. A working order with a fill becomes PARTIALLY_FILLED in
# ``order_status``; the table holds the status for nothing filled yet.
ORDER_STATUSES: Mapping[str, OrderStatus] = {
    # placement: accepted by the OMS, on its way to the exchange
    "PUT ORDER REQ RECEIVED": OrderStatus.OPEN,
    "PUT ORDER REQUEST RECEIVED": OrderStatus.OPEN,  # the docs' spelling of the same
    "AMO REQ RECEIVED": OrderStatus.OPEN,
    "VALIDATION PENDING": OrderStatus.OPEN,
    "OPEN PENDING": OrderStatus.OPEN,
    # working
    "OPEN": OrderStatus.OPEN,
    "TRIGGER PENDING": OrderStatus.OPEN,
    "MODIFY VALIDATION PENDING": OrderStatus.OPEN,
    "MODIFY PENDING": OrderStatus.OPEN,
    "MODIFIED": OrderStatus.OPEN,
    "UPDATE": OrderStatus.OPEN,  # postbacks and stream updates only: a modification or fill
    "CANCEL PENDING": OrderStatus.PENDING_CANCEL,
    # finished
    "COMPLETE": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    # Unverified: in neither Kite's docs nor its mocks. Mapped so that an AMO cancelled before
    # the open, if Kite reports it this way, parses; costs nothing if it never comes.
    "CANCELLED AMO": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
}
_WORKING = frozenset({OrderStatus.OPEN, OrderStatus.PENDING_CANCEL})

TRANSACTION_TYPES: Mapping[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}
ORDER_TYPES: Mapping[OrderType, str] = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.SL: "SL",
    OrderType.SL_M: "SL-M",
}
PRODUCTS: Mapping[Product, str] = {Product.MIS: "MIS", Product.CNC: "CNC", Product.NRML: "NRML"}
VALIDITIES: Mapping[Validity, str] = {Validity.DAY: "DAY", Validity.IOC: "IOC"}

SIDES: Mapping[str, Side] = {kite: side for side, kite in TRANSACTION_TYPES.items()}
KITE_ORDER_TYPES: Mapping[str, OrderType] = {kite: core for core, kite in ORDER_TYPES.items()}
KITE_PRODUCTS: Mapping[str, Product] = {kite: core for core, kite in PRODUCTS.items()}
KITE_VALIDITIES: Mapping[str, Validity] = {kite: core for core, kite in VALIDITIES.items()}

# Order types whose form carries a price / a trigger price / Kite's market protection.
PRICED = frozenset({OrderType.LIMIT, OrderType.SL})
TRIGGERED = frozenset({OrderType.SL, OrderType.SL_M})
PROTECTED = frozenset({OrderType.MARKET, OrderType.SL_M})


def lookup(table: Mapping[str, V], value: Any, what: str) -> V:
    """``table[value]``, or ``UnexpectedPayload`` naming what was unknown."""
    if isinstance(value, str) and value in table:
        return table[value]
    raise UnexpectedPayload(f"unknown Kite {what} {value!r}", code="unmapped")


# -- core -> Kite ------------------------------------------------------------------------------


def check_tag(client_order_id: str) -> str:
    """The client order id as Kite's ``tag``: 1 to 20 letters and digits, else ``OrderDenied``."""
    if not _TAG_RE.match(client_order_id):
        raise OrderDenied(
            f"client order id {client_order_id!r} cannot be a Kite tag "
            f"(1 to {TAG_MAX_LENGTH} letters and digits)",
            rule="client_order_id",
        )
    return client_order_id


def order_params(
    request: OrderRequest, client_order_id: str, settings: ZerodhaSettings
) -> dict[str, str]:
    """The form of ``POST /orders/regular`` for ``request``, tagged with ``client_order_id``."""
    params = {
        "exchange": request.instrument.exchange,
        "tradingsymbol": request.instrument.symbol,
        "transaction_type": TRANSACTION_TYPES[request.side],
        "quantity": str(request.quantity),
        "product": PRODUCTS[request.product],
        "order_type": ORDER_TYPES[request.order_type],
        "validity": VALIDITIES[request.validity],
        "tag": check_tag(client_order_id),
    }
    if request.order_type in PRICED:
        params["price"] = _price_text(request.price, "price")
    if request.order_type in TRIGGERED:
        params["trigger_price"] = _price_text(request.trigger_price, "trigger price")
    if request.order_type in PROTECTED:
        params["market_protection"] = str(settings.market_protection)
    return params


def modify_params(
    *,
    quantity: int | None = None,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
) -> dict[str, str]:
    """The form of ``PUT /orders/regular/{id}``: only the fields that change."""
    params: dict[str, str] = {}
    if quantity is not None:
        params["quantity"] = str(quantity)
    if price is not None:
        params["price"] = _price_text(price, "price")
    if trigger_price is not None:
        params["trigger_price"] = _price_text(trigger_price, "trigger price")
    return params


def _price_text(value: Decimal | None, label: str) -> str:
    if value is None or not value.is_finite() or value <= 0:
        raise OrderDenied(f"a {label} must be a positive number", rule=label)
    return format(value.normalize(), "f")


# -- Kite -> core ------------------------------------------------------------------------------


def order_status(payload: Mapping[str, Any]) -> OrderStatus:
    """Core status of a Kite order: a working order with a partial fill is PARTIALLY_FILLED."""
    status = lookup(ORDER_STATUSES, str(payload.get("status") or "").strip().upper(), "status")
    filled = _int(payload.get("filled_quantity"))
    if status is OrderStatus.OPEN and 0 < filled < _int(payload.get("quantity")):
        return OrderStatus.PARTIALLY_FILLED
    return status


def order_report(payload: Mapping[str, Any], account: str) -> OrderReport:
    """An order from ``/orders``, ``/orders/{id}``, a postback or a stream update."""
    status = order_status(payload)
    quantity = _int(payload.get("quantity"))
    filled = _int(payload.get("filled_quantity"))
    if status is OrderStatus.FILLED and filled == 0:
        filled = quantity  # some older payloads leave the fill out of finished orders
    average = _price(payload.get("average_price"))
    tag = payload.get("tag")
    return OrderReport(
        account=account,
        broker_order_id=_required(payload, "order_id"),
        instrument=instrument_of(payload),
        side=lookup(SIDES, payload.get("transaction_type"), "transaction type"),
        quantity=quantity,
        status=status,
        order_type=lookup(KITE_ORDER_TYPES, payload.get("order_type"), "order type"),
        product=lookup(KITE_PRODUCTS, payload.get("product"), "product"),
        client_order_id=str(tag) if tag else None,
        filled_quantity=filled,
        average_price=average if filled > 0 else None,
        price=_price(payload.get("price")),
        trigger_price=_price(payload.get("trigger_price")),
        message=str(payload.get("status_message") or ""),
        time=_latest_time(payload),
        raw=payload,
    )


def fill_from_trade(payload: Mapping[str, Any], client_order_id: str | None = None) -> Fill:
    """One row of ``/trades``: Kite's ``average_price`` there is that execution's price."""
    price = _price(payload.get("average_price"))
    time = parse_timestamp(payload.get("fill_timestamp")) or parse_timestamp(
        payload.get("exchange_timestamp")
    )
    if price is None or time is None:
        raise UnexpectedPayload(f"trade {payload.get('trade_id')!r} lacks a price or a time")
    return Fill(
        fill_id=_required(payload, "trade_id"),
        broker_order_id=_required(payload, "order_id"),
        instrument=instrument_of(payload),
        side=lookup(SIDES, payload.get("transaction_type"), "transaction type"),
        quantity=_int(payload.get("quantity")),
        price=price,
        time=time,
        client_order_id=client_order_id,
    )


def position_from(payload: Mapping[str, Any], account: str) -> Position:
    """One entry of ``/portfolio/positions``' ``net`` list; Kite's quantity is already signed."""
    return Position(
        account=account,
        instrument=instrument_of(payload),
        product=lookup(KITE_PRODUCTS, payload.get("product"), "product"),
        quantity=_int(payload.get("quantity")),
        average_price=_decimal(payload.get("average_price")),
        last_price=_decimal(payload.get("last_price")),
        realised_pnl=_decimal(payload.get("realised")),
    )


def quote_from(instrument: InstrumentId, payload: Mapping[str, Any], *, now: datetime) -> Quote:
    """A ``/quote`` or ``/quote/ltp`` entry; ``now`` stands in when Kite gives no time."""
    depth = payload.get("depth") or {}
    time = parse_timestamp(payload.get("timestamp")) or parse_timestamp(
        payload.get("last_trade_time")
    )
    volume = payload.get("volume")
    return Quote(
        instrument=instrument,
        last_price=_decimal(payload.get("last_price")),
        time=time or now,
        bid=_best(depth.get("buy")),
        ask=_best(depth.get("sell")),
        volume=int(volume) if volume is not None else None,
    )


def balance_from(margins: Mapping[str, Any], account: str, segment: str = "equity") -> Balance:
    """Funds of one segment of ``/user/margins``."""
    funds = margins.get(segment)
    if not isinstance(funds, Mapping):
        raise UnexpectedPayload(f"Kite's margins have no {segment!r} segment")
    available = funds.get("available") or {}
    used = funds.get("utilised") or {}
    return Balance(
        account=account,
        currency="INR",
        cash=_decimal(available.get("live_balance", available.get("cash"))),
        available=_decimal(funds.get("net")),
        used_margin=_decimal(used.get("debits")),
    )


def instrument_of(payload: Mapping[str, Any]) -> InstrumentId:
    """``EXCHANGE:TRADINGSYMBOL`` of an order, trade or position, as Kite wrote it."""
    exchange = str(payload.get("exchange") or "").strip().upper()
    symbol = str(payload.get("tradingsymbol") or "").strip().upper()
    if not exchange or not symbol:
        raise UnexpectedPayload("Kite sent an order or trade without exchange and tradingsymbol")
    return InstrumentId(exchange, symbol)


def parse_timestamp(value: Any) -> datetime | None:
    """Kite's ``"YYYY-MM-DD HH:MM:SS"`` (IST) as an aware datetime; ``None`` when absent."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=IST)
    if not isinstance(value, str) or len(value) != len("2026-01-05 09:15:00"):
        return None
    try:
        return datetime.strptime(value, _TIMESTAMP_FORMAT).replace(tzinfo=IST)
    except ValueError:
        return None


def _latest_time(payload: Mapping[str, Any]) -> datetime | None:
    for key in ("exchange_update_timestamp", "exchange_timestamp", "order_timestamp"):
        if (time := parse_timestamp(payload.get(key))) is not None:
            return time
    return None


def _best(levels: Any) -> Decimal | None:
    """The best price of one side of the depth; empty levels (quantity 0) do not count."""
    if not isinstance(levels, list) or not levels:
        return None
    top = levels[0]
    if not isinstance(top, Mapping) or not _int(top.get("quantity")):
        return None
    return _price(top.get("price"))


def _required(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None or value == "":
        raise UnexpectedPayload(f"Kite sent a record without {key}")
    return str(value)


def _int(value: Any) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UnexpectedPayload(f"Kite sent {value!r} where a whole number was due") from None


def _decimal(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise UnexpectedPayload(f"Kite sent {value!r} where a number was due") from None
    if not number.is_finite():
        raise UnexpectedPayload(f"Kite sent {value!r} where a number was due")
    return number


def _price(value: Any) -> Decimal | None:
    """A price, or ``None`` for Kite's 0 meaning "not set" (a market order's price)."""
    number = _decimal(value)
    return number if number > 0 else None
