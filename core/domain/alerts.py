"""Domain events a person should see.

Events are written to the outbox in the same transaction as the change that caused them, so a
crash can lose neither the change nor its alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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
