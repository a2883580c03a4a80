"""The orders repository: orders, their transitions and their fills."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from core.domain.codec import exits_from_dict, exits_to_dict
from core.domain.models import (
    ExitSpec,
    Fill,
    InstrumentId,
    Order,
    OrderPurpose,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)
from core.domain.order_fsm import OrderEvent
from core.storage.db import Row, Statement, Tx, format_time, parse_time

_COLUMNS = (
    "client_order_id, account, exchange, symbol, side, quantity, order_type, price,"
    " trigger_price, product, validity, exits, purpose, status, broker_order_id,"
    " filled_quantity, average_price, message, created_at, updated_at, version"
)
_IN_FLIGHT = tuple(s.value for s in OrderStatus if s.is_in_flight)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def exits_to_json(exits: ExitSpec) -> str:
    return json.dumps(exits_to_dict(exits), sort_keys=True)


def exits_from_json(text: str) -> ExitSpec:
    return exits_from_dict(json.loads(text))


def _order_from_row(row: Row) -> Order:
    request = OrderRequest(
        account=row["account"],
        instrument=InstrumentId(row["exchange"], row["symbol"]),
        side=Side(row["side"]),
        quantity=int(row["quantity"]),
        order_type=OrderType(row["order_type"]),
        price=_undec(row["price"]),
        trigger_price=_undec(row["trigger_price"]),
        product=Product(row["product"]),
        validity=Validity(row["validity"]),
        exits=exits_from_json(row["exits"]),
    )
    return Order(
        client_order_id=row["client_order_id"],
        request=request,
        status=OrderStatus(row["status"]),
        created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]),
        broker_order_id=row["broker_order_id"],
        filled_quantity=int(row["filled_quantity"]),
        average_price=_undec(row["average_price"]),
        message=row["message"],
        version=int(row["version"]),
        purpose=OrderPurpose(row["purpose"]),
    )


def insert_statement(order: Order) -> Statement:
    """The INSERT of a new order."""
    r = order.request
    return (
        f"INSERT INTO orders ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            order.client_order_id,
            r.account,
            r.instrument.exchange,
            r.instrument.symbol,
            r.side.value,
            r.quantity,
            r.order_type.value,
            _dec(r.price),
            _dec(r.trigger_price),
            r.product.value,
            r.validity.value,
            exits_to_json(r.exits),
            order.purpose.value,
            order.status.value,
            order.broker_order_id,
            order.filled_quantity,
            _dec(order.average_price),
            order.message,
            format_time(order.created_at),
            format_time(order.updated_at),
            order.version,
        ),
    )


class StaleOrder(Exception):
    """The order changed since it was read; the caller re-reads and tries again."""


class OrderRepository:
    """SQL for orders. Every method takes the transaction (or read) it runs in."""

    async def insert(self, tx: Tx, order: Order) -> None:
        await tx.run(insert_statement(order))

    async def update(self, tx: Tx, before: Order, after: Order, event: OrderEvent) -> None:
        """Write ``after`` if the stored row is still ``before`` (compare-and-set on version)."""
        r = after.request
        changed = await tx.execute(
            "UPDATE orders SET status=?, broker_order_id=?, filled_quantity=?, average_price=?,"
            " message=?, quantity=?, price=?, trigger_price=?, updated_at=?, version=?,"
            " sync_misses=0 WHERE client_order_id=? AND version=?",
            (
                after.status.value,
                after.broker_order_id,
                after.filled_quantity,
                _dec(after.average_price),
                after.message,
                r.quantity,
                _dec(r.price),
                _dec(r.trigger_price),
                format_time(after.updated_at),
                after.version,
                after.client_order_id,
                before.version,
            ),
        )
        if changed != 1:
            raise StaleOrder(after.client_order_id)
        await tx.execute(
            "INSERT INTO order_transitions (client_order_id, event, from_status, to_status,"
            " detail, at) VALUES (?,?,?,?,?,?)",
            (
                after.client_order_id,
                event.kind.value,
                before.status.value,
                after.status.value,
                event.message,
                format_time(after.updated_at),
            ),
        )

    async def set_broker_order_id(self, tx: Tx, client_order_id: str, broker_id: str) -> None:
        await tx.execute(
            "UPDATE orders SET broker_order_id=?, version=version+1"
            " WHERE client_order_id=? AND broker_order_id IS NULL",
            (broker_id, client_order_id),
        )

    async def count_miss(self, tx: Tx, client_order_id: str) -> int:
        """Record one failed search at the broker; return how many there have been."""
        await tx.execute(
            "UPDATE orders SET sync_misses = sync_misses + 1 WHERE client_order_id=?",
            (client_order_id,),
        )
        row = await tx.fetchone(
            "SELECT sync_misses FROM orders WHERE client_order_id=?", (client_order_id,)
        )
        return int(row[0]) if row else 0

    async def get(self, tx: Tx, client_order_id: str) -> Order | None:
        row = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM orders WHERE client_order_id=?", (client_order_id,)
        )
        return None if row is None else _order_from_row(row)

    async def get_by_broker_id(self, tx: Tx, account: str, broker_id: str) -> Order | None:
        row = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM orders WHERE account=? AND broker_order_id=?",
            (account, broker_id),
        )
        return None if row is None else _order_from_row(row)

    async def find_by_ref(self, tx: Tx, ref: str) -> list[Order]:
        """Orders whose client or broker order id is ``ref``, or ends with it."""
        rows = await tx.fetchall(
            f"SELECT {_COLUMNS} FROM orders WHERE client_order_id=? OR broker_order_id=?"
            " OR client_order_id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 5",
            (ref, ref, "%" + ref.replace("%", "\\%").replace("_", "\\_")),
        )
        return [_order_from_row(row) for row in rows]

    async def in_flight(self, tx: Tx, account: str | None = None) -> list[Order]:
        marks = ",".join("?" for _ in _IN_FLIGHT)
        sql = f"SELECT {_COLUMNS} FROM orders WHERE status IN ({marks})"
        params: list[object] = list(_IN_FLIGHT)
        if account is not None:
            sql += " AND account=?"
            params.append(account)
        rows = await tx.fetchall(sql + " ORDER BY created_at", params)
        return [_order_from_row(row) for row in rows]

    async def recent(self, tx: Tx, account: str | None = None, limit: int = 50) -> list[Order]:
        sql = f"SELECT {_COLUMNS} FROM orders"
        params: list[object] = []
        if account is not None:
            sql += " WHERE account=?"
            params.append(account)
        rows = await tx.fetchall(sql + " ORDER BY created_at DESC LIMIT ?", [*params, limit])
        return [_order_from_row(row) for row in rows]

    async def add_fills(self, tx: Tx, account: str, fills: Iterable[Fill]) -> int:
        """Store executions of known orders; a fill already stored is skipped.

        Return how many were new.
        """
        added = 0
        for fill in fills:
            added += await tx.execute(
                "INSERT OR IGNORE INTO fills (account, fill_id, broker_order_id,"
                " client_order_id, exchange, symbol, side, quantity, price, at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    account,
                    fill.fill_id,
                    fill.broker_order_id,
                    fill.client_order_id,
                    fill.instrument.exchange,
                    fill.instrument.symbol,
                    fill.side.value,
                    fill.quantity,
                    str(fill.price),
                    format_time(fill.time),
                ),
            )
        return added

    async def transitions(self, tx: Tx, client_order_id: str) -> list[tuple[str, str, str]]:
        rows = await tx.fetchall(
            "SELECT event, from_status, to_status FROM order_transitions"
            " WHERE client_order_id=? ORDER BY id",
            (client_order_id,),
        )
        return [(row[0], row[1], row[2]) for row in rows]
