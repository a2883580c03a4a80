"""The paper exchange's records, the accounting over them, and their JSON snapshot on disk.

The rules (matching, checks) live in ``exchange.py``; this module computes the funds model that
``exchange.py``'s docstring describes. The snapshot stores ``Decimal`` values as strings so that
no price ever passes through a float, and it is written to a temporary file and renamed, so a
crash mid-write leaves the previous snapshot intact.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from core.errors import ConfigError, NotFound
from core.models import (
    Fill,
    InstrumentId,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)

SNAPSHOT_VERSION = 1
MARGIN_RATE: Final[Mapping[Product, Decimal]] = MappingProxyType(
    {Product.CNC: Decimal(1), Product.MIS: Decimal("0.2"), Product.NRML: Decimal("0.2")}
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


@dataclass(slots=True)
class AccountState:
    """Everything the exchange knows about one account; what the snapshot saves."""

    account: str
    currency: str
    cash: Decimal
    last: dict[InstrumentId, LastPrice] = field(default_factory=dict)
    orders: dict[str, PaperOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[tuple[InstrumentId, Product], PositionRecord] = field(default_factory=dict)
    order_seq: int = 0
    fill_seq: int = 0

    def next_order_id(self) -> str:
        """``P000001``, ``P000002``, ...: unique within the account, restarts included."""
        self.order_seq += 1
        return f"P{self.order_seq:06d}"

    def next_fill_id(self) -> str:
        """``F000001``, ``F000002``, ...: unique within the account."""
        self.fill_seq += 1
        return f"F{self.fill_seq:06d}"

    def position(self, instrument: InstrumentId, product: Product) -> PositionRecord:
        """The position record, created flat on first use."""
        key = (instrument, product)
        if key not in self.positions:
            self.positions[key] = PositionRecord(instrument, product)
        return self.positions[key]

    def held(self, instrument: InstrumentId, product: Product) -> int:
        """The signed net quantity, without creating a record."""
        record = self.positions.get((instrument, product))
        return record.quantity if record else 0

    def find(self, order_id: str) -> PaperOrder:
        """The order with this id, or ``NotFound``."""
        try:
            return self.orders[order_id]
        except KeyError:
            raise NotFound(f"no order {order_id!r} in paper account {self.account!r}") from None

    def by_client_id(self, client_order_id: str) -> PaperOrder | None:
        """The order created with this client order id, if any."""
        for order in self.orders.values():
            if order.client_order_id == client_order_id:
                return order
        return None

    def open_orders(self) -> list[PaperOrder]:
        """Working orders in the order they arrived (their ids sort by arrival)."""
        return [order for order in self.orders.values() if order.is_open]

    def mark(self, instrument: InstrumentId, fallback: Decimal) -> Decimal:
        """The last price, or ``fallback`` for an instrument without one."""
        last = self.last.get(instrument)
        return last.price if last else fallback

    # The funds model is described in ``exchange.py``'s module docstring; these compute it.

    def funds(self, blocked: Decimal | None = None) -> Funds:
        """Cash, margin in use and money available, with ``blocked`` as the order blocks."""
        if blocked is None:
            blocked, _ = self.order_margins(None)
        carried = position_margin = Decimal(0)
        for record in self.positions.values():
            if record.product is Product.CNC or record.quantity == 0:
                continue
            value = record.quantity * self.mark(record.instrument, record.average_price)
            carried += value
            position_margin += abs(value) * MARGIN_RATE[record.product]
        used = blocked + position_margin
        return Funds(cash=self.cash, used_margin=used, available=self.cash + carried - used)

    def order_margins(self, candidate: PaperOrder | None) -> tuple[Decimal, Decimal]:
        """(margin blocked by the other working orders, margin the candidate would block).

        The candidate replaces the working order with its id and is counted last, so it is the
        one that finds the position's cover already taken by older orders.
        """
        orders = [
            order
            for order in self.open_orders()
            if candidate is None or order.order_id != candidate.order_id
        ]
        if candidate is not None:
            orders.append(candidate)
        cover: dict[tuple[InstrumentId, Product, Side], int] = {}
        blocked = required = Decimal(0)
        for order in orders:
            key = (order.instrument, order.product, order.side)
            if key not in cover:
                cover[key] = max(0, -order.side.sign * self.held(order.instrument, order.product))
            covered = min(cover[key], order.remaining)
            cover[key] -= covered
            rate = MARGIN_RATE[order.product]
            block = (order.remaining - covered) * self._reference_price(order) * rate
            if order is candidate:
                required = block
            else:
                blocked += block
        return blocked, required

    def _reference_price(self, order: PaperOrder) -> Decimal:
        if order.order_type in (OrderType.LIMIT, OrderType.SL) and order.price is not None:
            return order.price
        if order.order_type is OrderType.SL_M and not order.triggered and order.trigger_price:
            return order.trigger_price
        return self.mark(order.instrument, Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        """The JSON snapshot."""
        return {
            "version": SNAPSHOT_VERSION,
            "account": self.account,
            "currency": self.currency,
            "cash": str(self.cash),
            "order_seq": self.order_seq,
            "fill_seq": self.fill_seq,
            "last": {
                str(iid): {"price": str(lp.price), "time": lp.time.isoformat()}
                for iid, lp in self.last.items()
            },
            "orders": [encode_record(order) for order in self.orders.values()],
            "fills": [encode_record(fill) for fill in self.fills],
            "positions": [encode_record(record) for record in self.positions.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountState:
        """Rebuild the state from a snapshot; raise ``ValueError`` when it is not one."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {data.get('version')!r} is not {SNAPSHOT_VERSION}")
        orders = [decode_record(PaperOrder, item) for item in data["orders"]]
        positions = [decode_record(PositionRecord, item) for item in data["positions"]]
        return cls(
            account=str(data["account"]),
            currency=str(data["currency"]),
            cash=Decimal(data["cash"]),
            order_seq=int(data["order_seq"]),
            fill_seq=int(data["fill_seq"]),
            last={
                InstrumentId.parse(key): LastPrice(
                    Decimal(item["price"]), datetime.fromisoformat(item["time"])
                )
                for key, item in data["last"].items()
            },
            orders={order.order_id: order for order in orders},
            fills=[decode_record(Fill, item) for item in data["fills"]],
            positions={(rec.instrument, rec.product): rec for rec in positions},
        )


class StateFile:
    """Where an account's snapshot lives between runs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def load(self) -> AccountState | None:
        """The saved state, ``None`` when there is no file; ``ConfigError`` when it is unreadable.

        Starting afresh over a damaged file would overwrite the account at the next change, so a
        bad file stops start-up instead.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ConfigError(f"state_file: cannot read {self.path}: {err}") from None
        try:
            return AccountState.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError, ArithmeticError) as err:
            raise ConfigError(f"state_file: {self.path} is not a paper snapshot: {err}") from None

    def save(self, state: AccountState) -> None:
        """Write the snapshot atomically: a temporary file in the same folder, then a rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(state.to_dict(), out, indent=1)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


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
