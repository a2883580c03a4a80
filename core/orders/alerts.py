"""The alerts an order's transition produces, written in the transition's own transaction."""

from __future__ import annotations

from core.domain.alerts import Event, EventKind
from core.domain.models import Order, OrderStatus
from core.domain.order_fsm import OrderEvent, OrderEventKind


def _order_data(order: Order) -> dict[str, str]:
    request = order.request
    data = {
        "client_order_id": order.client_order_id,
        "broker_order_id": order.broker_order_id or "",
        "instrument": str(request.instrument),
        "side": request.side.value,
        "quantity": str(request.quantity),
        "order_type": request.order_type.value,
        "filled_quantity": str(order.filled_quantity),
        "status": order.status.value,
    }
    if request.price is not None:
        data["price"] = str(request.price)
    if request.trigger_price is not None:
        data["trigger_price"] = str(request.trigger_price)
    if order.average_price is not None:
        data["average_price"] = str(order.average_price)
    if order.message:
        data["message"] = order.message
    return data


def events_for_transition(before: Order, after: Order, event: OrderEvent) -> list[Event]:
    """The alerts one applied order event produces (none for quiet changes)."""
    data = _order_data(after)
    kind: EventKind | None = None
    if event.kind is OrderEventKind.ACCEPTED and before.status in (
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.UNKNOWN,
        OrderStatus.LOST,
        OrderStatus.REJECTED,
    ):
        kind = EventKind.ORDER_PLACED
    elif event.kind is OrderEventKind.FILL:
        data["fill_quantity"] = str(event.fill_quantity)
        data["fill_price"] = str(event.fill_price)
        complete = after.status is OrderStatus.FILLED
        kind = EventKind.ORDER_FILLED if complete else EventKind.ORDER_PARTIALLY_FILLED
    elif event.kind is OrderEventKind.REJECTED:
        kind = EventKind.ORDER_REJECTED
    elif event.kind is OrderEventKind.CANCELLED:
        data["by"] = "user" if before.status is OrderStatus.PENDING_CANCEL else "broker"
        kind = EventKind.ORDER_CANCELLED
    elif event.kind is OrderEventKind.EXPIRED:
        kind = EventKind.ORDER_EXPIRED
    elif event.kind is OrderEventKind.MODIFIED:
        kind = EventKind.ORDER_MODIFIED
    elif event.kind is OrderEventKind.OUTCOME_UNKNOWN and before.status is not OrderStatus.UNKNOWN:
        kind = EventKind.ORDER_UNKNOWN
    elif event.kind is OrderEventKind.LOST:
        kind = EventKind.ORDER_LOST
    if kind is None:
        return []
    return [Event(kind, after.account, data)]
