"""The paper exchange's account state, the accounting over it, and its JSON snapshot on disk.

The rules (matching, checks) live in ``exchange.py``; this module computes the funds model that
``exchange.py``'s docstring describes. The records the state holds, and their JSON form, are in
``records.py`` (re-exported here). The snapshot is written to a temporary file and renamed, so a
crash mid-write leaves the previous snapshot intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from brokers.paper.records import (
    Funds,
    LastPrice,
    PaperOrder,
    PositionRecord,
    decode_record,
    encode_record,
)
from core.domain.errors import ConfigError, NotFound
from core.domain.models import Fill, InstrumentId, OrderType, Product, Side

SNAPSHOT_VERSION = 1
MARGIN_RATE: Final[Mapping[Product, Decimal]] = MappingProxyType(
    {Product.CNC: Decimal(1), Product.MIS: Decimal("0.2"), Product.NRML: Decimal("0.2")}
)


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


__all__ = [
    "MARGIN_RATE",
    "SNAPSHOT_VERSION",
    "AccountState",
    "Funds",
    "LastPrice",
    "PaperOrder",
    "PositionRecord",
    "StateFile",
]
