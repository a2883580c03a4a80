"""The order state machine: one transition table, one ``apply``.

Every status change in pocketdesk goes through ``apply``. An event the table does not allow in
the order's current status raises ``IllegalTransition`` and changes nothing (orders are immutable;
``apply`` returns a new one). The table includes the moves real brokers make: a fill racing a
cancel (CANCELLED -> FILLED), repeated working updates, a fill after a rejection-looking answer,
and an order found again after it was declared lost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.domain.errors import IllegalTransition
from core.domain.models import Order, OrderStatus

S = OrderStatus


class OrderEventKind(StrEnum):
    ACCEPTED = "ACCEPTED"  # the broker has it and it is working (repeats are fine)
    REJECTED = "REJECTED"  # the broker said no
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"  # the submit may or may not have reached the broker
    FILL = "FILL"  # an execution of ``fill_quantity`` at ``fill_price``
    MODIFIED = "MODIFIED"  # price / quantity / trigger changed at the broker
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCEL_REFUSED = "CANCEL_REFUSED"  # the cancel failed; the order still works
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    LOST = "LOST"  # not found at the broker after the search bound


E = OrderEventKind


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """Something that happened to an order, in core vocabulary."""

    kind: OrderEventKind
    broker_order_id: str | None = None
    fill_quantity: int = 0
    fill_price: Decimal | None = None
    new_quantity: int | None = None
    new_price: Decimal | None = None
    new_trigger_price: Decimal | None = None
    message: str = ""


# status -> event -> next status. For FILL the value is the status after a *partial* fill; a fill
# that completes the quantity always leads to FILLED. For CANCEL_REFUSED the value OPEN becomes
# PARTIALLY_FILLED when something has already filled.
TRANSITIONS: dict[OrderStatus, dict[OrderEventKind, OrderStatus]] = {
    S.PENDING_SUBMIT: {
        E.ACCEPTED: S.OPEN,
        E.REJECTED: S.REJECTED,
        E.OUTCOME_UNKNOWN: S.UNKNOWN,
        E.FILL: S.PARTIALLY_FILLED,
        E.CANCELLED: S.CANCELLED,
        E.EXPIRED: S.EXPIRED,
    },
    S.UNKNOWN: {
        E.ACCEPTED: S.OPEN,
        E.REJECTED: S.REJECTED,
        E.OUTCOME_UNKNOWN: S.UNKNOWN,
        E.FILL: S.PARTIALLY_FILLED,
        E.CANCELLED: S.CANCELLED,
        E.EXPIRED: S.EXPIRED,
        E.LOST: S.LOST,
    },
    S.OPEN: {
        E.ACCEPTED: S.OPEN,
        E.REJECTED: S.REJECTED,
        E.FILL: S.PARTIALLY_FILLED,
        E.MODIFIED: S.OPEN,
        E.CANCEL_REQUESTED: S.PENDING_CANCEL,
        E.CANCELLED: S.CANCELLED,
        E.EXPIRED: S.EXPIRED,
    },
    S.PARTIALLY_FILLED: {
        E.ACCEPTED: S.PARTIALLY_FILLED,
        E.FILL: S.PARTIALLY_FILLED,
        E.MODIFIED: S.PARTIALLY_FILLED,
        E.CANCEL_REQUESTED: S.PENDING_CANCEL,
        E.CANCELLED: S.CANCELLED,
        E.EXPIRED: S.EXPIRED,
    },
    S.PENDING_CANCEL: {
        E.ACCEPTED: S.PENDING_CANCEL,
        E.FILL: S.PENDING_CANCEL,
        E.CANCEL_REFUSED: S.OPEN,
        E.CANCELLED: S.CANCELLED,
        E.EXPIRED: S.EXPIRED,
    },
    S.FILLED: {},
    S.CANCELLED: {E.FILL: S.CANCELLED},
    S.EXPIRED: {E.FILL: S.EXPIRED},
    S.REJECTED: {
        E.ACCEPTED: S.OPEN,
        E.FILL: S.PARTIALLY_FILLED,
    },
    S.LOST: {
        E.ACCEPTED: S.OPEN,
        E.REJECTED: S.REJECTED,
        E.FILL: S.PARTIALLY_FILLED,
        E.CANCELLED: S.CANCELLED,
        E.EXPIRED: S.EXPIRED,
    },
}


def can_apply(status: OrderStatus, kind: OrderEventKind) -> bool:
    """Whether the table allows ``kind`` in ``status``."""
    return kind in TRANSITIONS[status]


def apply(order: Order, event: OrderEvent, now: datetime) -> Order:
    """Return the order after ``event``, or raise ``IllegalTransition`` and change nothing."""
    target = TRANSITIONS[order.status].get(event.kind)
    if target is None:
        raise IllegalTransition(
            f"order {order.client_order_id}: {event.kind} is not allowed in {order.status}"
        )
    broker_id = event.broker_order_id or order.broker_order_id
    if order.broker_order_id and event.broker_order_id not in (None, order.broker_order_id):
        raise IllegalTransition(
            f"order {order.client_order_id} is broker order {order.broker_order_id}, "
            f"not {event.broker_order_id}"
        )
    changes: dict[str, object] = {
        "status": target,
        "broker_order_id": broker_id,
        "updated_at": now,
        "version": order.version + 1,
    }
    if event.message:
        changes["message"] = event.message
    if event.kind is E.FILL:
        changes.update(_fill_changes(order, event, target))
    elif event.kind is E.MODIFIED:
        changes["request"] = _modified_request(order, event)
    elif event.kind is E.CANCEL_REFUSED and order.filled_quantity > 0:
        changes["status"] = S.PARTIALLY_FILLED
    return replace(order, **changes)  # type: ignore[arg-type]


def _fill_changes(
    order: Order, event: OrderEvent, partial_target: OrderStatus
) -> dict[str, object]:
    qty, price = event.fill_quantity, event.fill_price
    if qty <= 0 or price is None or price <= 0:
        raise IllegalTransition(f"order {order.client_order_id}: a fill needs quantity and price")
    filled = order.filled_quantity + qty
    if filled > order.request.quantity:
        raise IllegalTransition(
            f"order {order.client_order_id}: fill of {qty} exceeds the remaining "
            f"{order.remaining_quantity}"
        )
    previous_value = (order.average_price or Decimal(0)) * order.filled_quantity
    average = (previous_value + price * qty) / filled
    status = S.FILLED if filled == order.request.quantity else partial_target
    return {"filled_quantity": filled, "average_price": average, "status": status}


def _modified_request(order: Order, event: OrderEvent) -> object:
    request = order.request
    quantity = event.new_quantity if event.new_quantity is not None else request.quantity
    if quantity < max(order.filled_quantity, 1):
        raise IllegalTransition(
            f"order {order.client_order_id}: quantity {quantity} is below what has filled"
        )
    return replace(
        request,
        quantity=quantity,
        price=event.new_price if event.new_price is not None else request.price,
        trigger_price=(
            event.new_trigger_price
            if event.new_trigger_price is not None
            else request.trigger_price
        ),
    )
