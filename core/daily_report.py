"""The end-of-day report of one account: today's orders by status, open positions, P&L.

Orders are ours (the tracker's, placed through pocketdesk or adopted by the sync loop); positions
and P&L are the broker's, read at report time. The alert's ``data`` carries the numbers as plain
strings beside the text, for a front-end that wants to lay them out itself.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, tzinfo
from decimal import Decimal

from core.broker import Broker
from core.domain.models import OrderStatus, Position
from core.orders.tracker import OrderTracker

log = logging.getLogger(__name__)

MAX_ORDERS = 2000  # orders read back to find today's; more in one day is beyond this desk
_ORDER = list(OrderStatus)


async def day_report(
    broker: Broker, tracker: OrderTracker, day: date, zone: tzinfo
) -> dict[str, str]:
    """The report's alert data: ``message`` and the figures behind it."""
    account = broker.account
    orders = [
        order
        for order in await tracker.recent(account, MAX_ORDERS)
        if order.created_at.astimezone(zone).date() == day
    ]
    data = {"day": day.isoformat(), "orders": str(len(orders))}
    lines = [f"{day:%a %d %b %Y}", _orders_line(Counter(o.status for o in orders))]
    try:
        positions = await broker.fetch_positions()
    except Exception as exc:
        log.warning("day report of %s: positions unreadable: %r", account, exc)
        lines.append(f"positions unavailable: {str(exc) or type(exc).__name__}")
    else:
        held = [p for p in positions if not p.is_flat]
        data["open_positions"] = str(len(held))
        lines.append(_positions_line(held))
        for currency, (realised, unrealised) in _pnl(positions).items():
            data[f"realised_{currency}"] = str(realised)
            data[f"unrealised_{currency}"] = str(unrealised)
            lines.append(
                f"P&L {currency}: realised {realised:+,.2f}, unrealised {unrealised:+,.2f}"
            )
    data["message"] = "\n".join(lines)
    return data


def _orders_line(counts: Counter[OrderStatus]) -> str:
    total = sum(counts.values())
    if not total:
        return "no orders today"
    parts = [
        f"{counts[status]} {status.value.lower().replace('_', ' ')}"
        for status in _ORDER
        if counts[status]
    ]
    return f"{total} order(s) today: {', '.join(parts)}"


def _positions_line(held: list[Position]) -> str:
    if not held:
        return "no open positions"
    listed = "; ".join(f"{p.instrument} {p.quantity:+d} {p.product.value}" for p in held)
    return f"{len(held)} open position(s): {listed}"


def _pnl(positions: list[Position]) -> dict[str, tuple[Decimal, Decimal]]:
    """Realised (all positions, flat ones too) and unrealised (open ones) P&L per currency."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for position in positions:
        realised, unrealised = totals.get(position.currency, (Decimal(0), Decimal(0)))
        realised += position.realised_pnl
        if not position.is_flat:
            unrealised += position.unrealised_pnl
        totals[position.currency] = (realised, unrealised)
    return totals
