"""The paper exchange's records (orders, positions, last prices, funds) and their JSON form.

The exchange keeps these records in an ``AccountState`` (``state.py``) and changes them in place.
``encode_record`` turns one into JSON-ready values for an order report's ``raw`` and for the
snapshot; it stores ``Decimal`` values as strings so that no price ever passes through a float.
``decode_record`` reads such values back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from core.domain.models import (
    InstrumentId,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)

# Averages are divisions; four places is finer than any tick and keeps reports readable.
AVERAGE_PLACES = Decimal("0.0001")
_OPEN = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


@dataclass(frozen=True, slots=True)
class Funds:
    """The account's money as the funds model computes it."""

    cash: Decimal
    used_margin: Decimal
    available: Decimal


@dataclass(slots=True)
class PaperOrder:
    """The exchange's own, mutable record of one order."""

    order_id: str
    client_order_id: str
    account: str
    instrument: InstrumentId
    side: Side
    quantity: int
    order_type: OrderType
    product: Product
    validity: Validity
    price: Decimal | None
    trigger_price: Decimal | None
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    filled_quantity: int = 0
    filled_value: Decimal = Decimal(0)
    triggered: bool = False
    message: str = ""

    @classmethod
    def from_request(
        cls,
        order_id: str,
        client_order_id: str,
        account: str,
        request: OrderRequest,
        now: datetime,
    ) -> PaperOrder:
        """A new OPEN record for a request, not yet checked."""
        return cls(
            order_id=order_id,
            client_order_id=client_order_id,
            account=account,
            instrument=request.instrument,
            side=request.side,
            quantity=request.quantity,
            order_type=request.order_type,
            product=request.product,
            validity=request.validity,
            price=request.price,
            trigger_price=request.trigger_price,
            status=OrderStatus.OPEN,
            created_at=now,
            updated_at=now,
        )

    @property
    def remaining(self) -> int:
        """Units still to fill."""
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        """Whether the order is still working."""
        return self.status in _OPEN

    @property
    def is_stop(self) -> bool:
        """Whether the order waits for a trigger (SL, SL-M)."""
        return self.order_type in (OrderType.SL, OrderType.SL_M)

    @property
    def average_price(self) -> Decimal | None:
        """The quantity-weighted fill price, ``None`` before the first fill."""
        if not self.filled_quantity:
            return None
        return (self.filled_value / self.filled_quantity).quantize(AVERAGE_PLACES)

    def to_report(self) -> OrderReport:
        """The order in core vocabulary; ``raw`` carries this record as the exchange keeps it."""
        return OrderReport(
            account=self.account,
            broker_order_id=self.order_id,
            client_order_id=self.client_order_id,
            instrument=self.instrument,
            side=self.side,
            quantity=self.quantity,
            status=self.status,
            order_type=self.order_type,
            product=self.product,
            filled_quantity=self.filled_quantity,
            average_price=self.average_price,
            price=self.price,
            trigger_price=self.trigger_price,
            message=self.message,
            time=self.updated_at,
            raw=encode_record(self),
        )


@dataclass(slots=True)
class PositionRecord:
    """A net position per (instrument, product); kept when flat so today's P&L stays visible."""

    instrument: InstrumentId
    product: Product
    quantity: int = 0
    average_price: Decimal = Decimal(0)
    realised_pnl: Decimal = Decimal(0)

    def apply_fill(self, side: Side, quantity: int, price: Decimal) -> None:
        """Move the position by one execution.

        Adding to the position (or opening it) re-weights the average; reducing it realises P&L
        against the unchanged average; going through zero realises the closed part and opens
        the rest at the fill price.
        """
        delta = side.sign * quantity
        held = self.quantity
        if held == 0 or (held > 0) == (delta > 0):
            total = abs(held) + quantity
            cost = self.average_price * abs(held) + price * quantity
            self.average_price = (cost / total).quantize(AVERAGE_PLACES)
            self.quantity = held + delta
            return
        closed = min(quantity, abs(held))
        direction = 1 if held > 0 else -1
        self.realised_pnl += (price - self.average_price) * closed * direction
        self.quantity = held + delta
        if quantity > abs(held):
            self.average_price = price


@dataclass(frozen=True, slots=True)
class LastPrice:
    """The latest traded price of an instrument and when it arrived."""

    price: Decimal
    time: datetime


# How each stored field is read back; a field not named here is stored as JSON already.
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "instrument": lambda text: InstrumentId.parse(str(text)),
    "side": Side,
    "order_type": OrderType,
    "product": Product,
    "validity": Validity,
    "status": OrderStatus,
    "price": lambda value: None if value is None else Decimal(value),
    "trigger_price": lambda value: None if value is None else Decimal(value),
    "filled_value": Decimal,
    "average_price": Decimal,
    "realised_pnl": Decimal,
    "created_at": datetime.fromisoformat,
    "updated_at": datetime.fromisoformat,
    "time": datetime.fromisoformat,
}

_R = TypeVar("_R")


def encode_record(record: Any) -> dict[str, Any]:
    """A dataclass record as JSON-ready values: Decimals and ids as strings, times in ISO form."""
    out: dict[str, Any] = {}
    for spec in dataclasses.fields(record):
        value = getattr(record, spec.name)
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, Decimal | InstrumentId):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[spec.name] = value
    return out


def decode_record(cls: type[_R], data: dict[str, Any]) -> _R:
    """Rebuild a dataclass record written by ``encode_record``."""
    values = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        decode = _DECODERS.get(spec.name)
        values[spec.name] = decode(data[spec.name]) if decode else data[spec.name]
    return cls(**values)
