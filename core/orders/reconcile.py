"""Reconciliation as pure functions: (what we know, what the broker reports) -> order events.

No I/O here. The broker is the source of truth, but its reports may arrive late or out of order
(a push update overtaken by a poll, an "OPEN" snapshot read before a fill), so a report only ever
moves an order forward: a report that shows less filled quantity than we already recorded, or a
working status for an order we know has finished, produces nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.domain.errors import IllegalTransition
from core.domain.models import Order, OrderReport, OrderStatus
from core.domain.order_fsm import OrderEvent, OrderEventKind, apply, can_apply

S = OrderStatus
E = OrderEventKind

_WORKING = (S.OPEN, S.PARTIALLY_FILLED, S.PENDING_CANCEL)
_NOT_YET_ACCEPTED = (S.PENDING_SUBMIT, S.UNKNOWN, S.LOST, S.REJECTED)


def fill_event(order: Order, report: OrderReport) -> OrderEvent | None:
    """The execution implied by a report whose cumulative fill is ahead of ours."""
    delta = report.filled_quantity - order.filled_quantity
    if delta <= 0:
        return None
    price = _delta_price(order, report, delta)
    if price is None:
        return None
    return OrderEvent(
        E.FILL,
        broker_order_id=report.broker_order_id,
        fill_quantity=delta,
        fill_price=price,
    )


def _delta_price(order: Order, report: OrderReport, delta: int) -> Decimal | None:
    """Price of the new executions, from the change in the cumulative average."""
    reported_avg = report.average_price if report.average_price is not None else report.price
    if reported_avg is None:
        return None
    if order.filled_quantity == 0 or order.average_price is None:
        return reported_avg
    total = reported_avg * report.filled_quantity - order.average_price * order.filled_quantity
    price = total / delta
    return price if price > 0 else reported_avg


def _modification(order: Order, report: OrderReport) -> OrderEvent | None:
    request = order.request
    new_quantity = report.quantity if report.quantity != request.quantity else None
    new_price = (
        report.price
        if report.price is not None and request.price is not None and report.price != request.price
        else None
    )
    new_trigger = (
        report.trigger_price
        if report.trigger_price is not None
        and request.trigger_price is not None
        and report.trigger_price != request.trigger_price
        else None
    )
    if new_quantity is None and new_price is None and new_trigger is None:
        return None
    return OrderEvent(
        E.MODIFIED,
        broker_order_id=report.broker_order_id,
        new_quantity=new_quantity,
        new_price=new_price,
        new_trigger_price=new_trigger,
    )


def events_from_report(order: Order, report: OrderReport) -> list[OrderEvent]:
    """The order events that bring ``order`` up to ``report``, in the order to apply them."""
    wanted: list[OrderEvent] = []
    bid = report.broker_order_id
    status = report.status
    if status is S.REJECTED:
        wanted.append(OrderEvent(E.REJECTED, broker_order_id=bid, message=report.message))
    else:
        if order.status in _NOT_YET_ACCEPTED and status in (*_WORKING, S.FILLED):
            wanted.append(OrderEvent(E.ACCEPTED, broker_order_id=bid))
        if status in (S.OPEN, S.PARTIALLY_FILLED):
            modification = _modification(order, report)
            if modification is not None:
                wanted.append(modification)
        fill = fill_event(order, report)
        if fill is not None:
            wanted.append(fill)
        if status is S.PENDING_CANCEL and order.status in (S.OPEN, S.PARTIALLY_FILLED):
            wanted.append(OrderEvent(E.CANCEL_REQUESTED, broker_order_id=bid))
        elif status is S.CANCELLED:
            wanted.append(OrderEvent(E.CANCELLED, broker_order_id=bid, message=report.message))
        elif status is S.EXPIRED:
            wanted.append(OrderEvent(E.EXPIRED, broker_order_id=bid, message=report.message))
        elif status in (S.OPEN, S.PARTIALLY_FILLED) and order.status is S.PENDING_CANCEL:
            wanted.append(OrderEvent(E.CANCEL_REFUSED, broker_order_id=bid))
    return legal_sequence(order, wanted, report.time or order.updated_at)


def legal_sequence(order: Order, events: list[OrderEvent], now: datetime) -> list[OrderEvent]:
    """Keep the events that the state machine accepts when applied one after another."""
    kept: list[OrderEvent] = []
    current = order
    for event in events:
        if not can_apply(current.status, event.kind):
            continue
        try:
            current = apply(current, event, now)
        except IllegalTransition:
            continue
        kept.append(event)
    return kept
