"""Domain events a person should see, and how order transitions produce them.

Events are written to the outbox in the same transaction as the change that caused them, so a
crash can lose neither the change nor its alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.domain.models import Order, OrderStatus
from core.domain.order_fsm import OrderEvent, OrderEventKind


class EventKind(StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_FILLED = "order_filled"
    ORDER_REJECTED = "order_rejected"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_EXPIRED = "order_expired"
    ORDER_MODIFIED = "order_modified"
    ORDER_UNKNOWN = "order_unknown"
    ORDER_LOST = "order_lost"
    EXIT_ARMED = "exit_armed"
    EXIT_TRIGGERED = "exit_triggered"
    EXIT_REARMED = "exit_rearmed"
    EXIT_DISARMED = "exit_disarmed"
    FEED_FALLBACK = "feed_fallback"
    FEED_RECOVERED = "feed_recovered"
    TOKEN_EXPIRED = "token_expired"
    LOGGED_IN = "logged_in"
    SYNC_MISMATCH = "sync_mismatch"
    RISK_HALT = "risk_halt"
    TRADING_RESUMED = "trading_resumed"
    COMPONENT_FAILED = "component_failed"
    SQUARE_OFF = "square_off"
    LOGIN_REMINDER = "login_reminder"
    DAILY_REPORT = "daily_report"
    JOB_FAILED = "job_failed"


@dataclass(frozen=True, slots=True)
class Event:
    """One alert-worthy fact. ``data`` holds plain strings so it stores and renders anywhere."""

    kind: EventKind
    account: str
    data: dict[str, str] = field(default_factory=dict)
    id: int | None = None
    created_at: datetime | None = None


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
