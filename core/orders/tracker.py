"""The order tracker: the one writer of order state.

Every change to an order, whether it comes from the execution pipeline, a push update or a poll,
passes through here: read the stored order, run the events through the state machine, and write
the new state, its transitions and its alerts in one transaction. Writers are serialised, so a
push update racing the pipeline's own report cannot apply the same fill twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable

from core.domain.alerts import Event
from core.domain.clock import Clock
from core.domain.models import (
    Fill,
    Order,
    OrderPurpose,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from core.domain.order_fsm import OrderEvent, apply
from core.orders.alerts import events_for_transition
from core.orders.reconcile import events_from_report, legal_sequence
from core.storage.audit import audit_statement
from core.storage.db import Database, Tx, execute_now
from core.storage.orders import OrderRepository, insert_statement
from core.storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

_PRICED = (OrderType.LIMIT, OrderType.SL)
_TRIGGERED = (OrderType.SL, OrderType.SL_M)

OrderListener = Callable[[Order, Order, OrderEvent], None]
IntentHook = Callable[[sqlite3.Connection, Order], None]
"""Runs on the database thread in the intent's transaction (build statements with the
repositories' ``*_statement`` functions and run them with ``execute_now``)."""
TransitionHook = Callable[[Tx, Order, Order, OrderEvent], Awaitable[list[Event]]]


def describe_order(order: Order) -> str:
    """One line for the audit log: the order's id, account, side, size, prices and state."""
    r = order.request
    price = f" @{r.price}" if r.price is not None else ""
    trigger = f" trigger {r.trigger_price}" if r.trigger_price is not None else ""
    return (
        f"{order.client_order_id} {r.account} {r.side} {r.quantity} {r.instrument} "
        f"{r.order_type}{price}{trigger} {r.product} ({order.purpose}) -> {order.status}"
    )


class OrderTracker:
    """Reads and writes orders; emits their alerts to the outbox."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.orders = OrderRepository()
        self.outbox = OutboxRepository()
        self._write_lock = asyncio.Lock()
        self._listeners: list[OrderListener] = []
        self._hooks: list[TransitionHook] = []
        self._flying: dict[str, Order] | None = None  # in-flight orders, loaded on first use
        self._changed = asyncio.Event()

    def add_transition_hook(self, hook: TransitionHook) -> None:
        """Run ``hook(tx, before, after, event)`` inside each transition's transaction.

        What the hook writes commits or rolls back with the order's change; the alerts it
        returns go to the outbox in the same transaction.
        """
        self._hooks.append(hook)

    def subscribe(self, listener: OrderListener) -> None:
        """Call ``listener(before, after, event)`` after each committed transition."""
        self._listeners.append(listener)

    async def record_intent(
        self,
        request: OrderRequest,
        client_order_id: str,
        purpose: OrderPurpose = OrderPurpose.ENTRY,
        *,
        with_intent: IntentHook | None = None,
    ) -> Order:
        """Persist the order before anything is sent, so a crash cannot forget it.

        ``with_intent`` runs in the same transaction after the insert (an exit rule marks itself
        triggered by this order there); if it raises, nothing is stored.
        """
        now = self.clock.now()
        order = Order(
            client_order_id=client_order_id,
            request=request,
            status=OrderStatus.PENDING_SUBMIT,
            created_at=now,
            updated_at=now,
            purpose=purpose,
        )

        def store(conn: sqlite3.Connection) -> None:
            execute_now(conn, insert_statement(order))
            execute_now(conn, audit_statement(now, None, "order intent", describe_order(order)))
            if with_intent is not None:
                with_intent(conn, order)

        await self.db.run(store)  # one trip to the database: this sits on the exit path
        self._remember(order)
        return order

    async def adopt(self, report: OrderReport) -> Order:
        """Start tracking an order known only from the broker's report (see ``OrderSync``)."""
        request = OrderRequest(
            account=report.account,
            instrument=report.instrument,
            side=report.side,
            quantity=report.quantity,
            order_type=report.order_type,
            price=report.price if report.order_type in _PRICED else None,
            trigger_price=report.trigger_price if report.order_type in _TRIGGERED else None,
            product=report.product,
        )
        order = await self.record_intent(request, report.client_order_id or report.broker_order_id)
        return await self.apply_report(report) or order

    async def get(self, client_order_id: str) -> Order | None:
        async with self.db.read() as tx:
            return await self.orders.get(tx, client_order_id)

    async def apply(
        self, client_order_id: str, events: Iterable[OrderEvent], *, skip_illegal: bool = False
    ) -> Order:
        """Apply events to a stored order; an illegal one raises and nothing is written.

        With ``skip_illegal`` the events the order has already moved past are left out instead:
        for outcomes that a faster broker report may have overtaken.
        """
        async with self._write_lock:
            async with self.db.transaction() as tx:
                order = await self.orders.get(tx, client_order_id)
                if order is None:
                    raise KeyError(client_order_id)
                wanted = list(events)
                if skip_illegal:
                    wanted = legal_sequence(order, wanted, self.clock.now())
                changes = await self._apply_events(tx, order, wanted)
        return self._after_commit(order, changes)

    async def apply_report(self, report: OrderReport, fill: Fill | None = None) -> Order | None:
        """Bring our order up to the broker's report; ``None`` when the order is not ours."""
        async with self._write_lock:
            async with self.db.transaction() as tx:
                order = await self._find(tx, report)
                if order is None:
                    return None
                if order.broker_order_id is None and report.broker_order_id:
                    await self.orders.set_broker_order_id(
                        tx, order.client_order_id, report.broker_order_id
                    )
                    order = await self.orders.get(tx, order.client_order_id) or order
                if fill is not None:
                    await self.orders.add_fills(tx, report.account, [_own(fill, order)])
                changes = await self._apply_events(tx, order, events_from_report(order, report))
        return self._after_commit(order, changes)

    async def record_fills(self, account: str, fills: list[Fill]) -> int:
        """Store the broker's executions of our orders (found by client or broker order id)."""
        added = 0
        async with self.db.transaction() as tx:
            for fill in fills:
                order = None
                if fill.client_order_id:
                    order = await self.orders.get(tx, fill.client_order_id)
                if order is None:
                    order = await self.orders.get_by_broker_id(tx, account, fill.broker_order_id)
                if order is not None:
                    added += await self.orders.add_fills(tx, account, [_own(fill, order)])
        return added

    async def count_miss(self, client_order_id: str) -> int:
        async with self.db.transaction() as tx:
            return await self.orders.count_miss(tx, client_order_id)

    async def in_flight(self, account: str | None = None) -> list[Order]:
        """Orders still in flight, oldest first, from memory (read from storage once).

        Every write goes through this tracker, so the set cannot drift from storage; the exit
        path reads it on every firing without a round trip to the database.
        """
        if self._flying is None:
            async with self.db.read() as tx:
                loaded = await self.orders.in_flight(tx)
            if self._flying is None:
                self._flying = {o.client_order_id: o for o in loaded}
        orders = self._flying.values()
        return sorted(
            (o for o in orders if account is None or o.account == account),
            key=lambda o: o.created_at,
        )

    async def recent(self, account: str | None = None, limit: int = 50) -> list[Order]:
        async with self.db.read() as tx:
            return await self.orders.recent(tx, account, limit)

    async def find(self, ref: str) -> list[Order]:
        async with self.db.read() as tx:
            return await self.orders.find_by_ref(tx, ref)

    async def wait_for_change(self, timeout_s: float) -> None:
        """Return after the next committed transition, or after ``timeout_s``."""
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout_s)
        except TimeoutError:
            return

    async def _find(self, tx: Tx, report: OrderReport) -> Order | None:
        if report.client_order_id:
            order = await self.orders.get(tx, report.client_order_id)
            if order is not None and order.account == report.account:
                return order
        return await self.orders.get_by_broker_id(tx, report.account, report.broker_order_id)

    async def _apply_events(
        self, tx: Tx, order: Order, events: list[OrderEvent]
    ) -> list[tuple[Order, Order, OrderEvent]]:
        now = self.clock.now()
        changes: list[tuple[Order, Order, OrderEvent]] = []
        current = order
        for event in events:
            after = apply(current, event, now)
            await self.orders.update(tx, current, after, event)
            alerts = events_for_transition(current, after, event)
            for hook in self._hooks:
                alerts.extend(await hook(tx, current, after, event))
            for alert in alerts:
                await self.outbox.add(tx, alert, now)
            changes.append((current, after, event))
            current = after
        return changes

    def _after_commit(self, order: Order, changes: list[tuple[Order, Order, OrderEvent]]) -> Order:
        latest = changes[-1][1] if changes else order
        self._remember(latest)
        for before, after, event in changes:
            for listener in self._listeners:
                try:
                    listener(before, after, event)
                except Exception:
                    log.exception("order listener failed")
        if changes:
            self._changed.set()
            self._changed = asyncio.Event()
        return latest

    def _remember(self, order: Order) -> None:
        """Keep the in-memory set of in-flight orders in step with what was committed."""
        if self._flying is None:
            return
        if order.status.is_in_flight:
            self._flying[order.client_order_id] = order
        else:
            self._flying.pop(order.client_order_id, None)


def _own(fill: Fill, order: Order) -> Fill:
    """The fill, attributed to our order."""
    if fill.client_order_id == order.client_order_id:
        return fill
    return Fill(
        fill_id=fill.fill_id,
        broker_order_id=fill.broker_order_id,
        instrument=fill.instrument,
        side=fill.side,
        quantity=fill.quantity,
        price=fill.price,
        time=fill.time,
        client_order_id=order.client_order_id,
    )
