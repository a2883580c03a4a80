"""Turn core result objects into replies. Shared by every front-end."""

from __future__ import annotations

from decimal import Decimal

from bot.replies import Button, Reply, esc
from core.confirmations import ActionKind
from core.desk import AccountInfo, AccountPositions, ActionResult, StatusReport, Ticket
from core.domain.alerts import Event, EventKind
from core.domain.models import Order, OrderRequest, OrderStatus, OrderType, Quote
from core.scheduler import JobStatus

CONFIRM_PREFIX = "cf:"
DISMISS_PREFIX = "cx:"
CHOOSE_PREFIX = "ac:"  # ac:<choice id>:<account>
EXIT_PREFIX = "px:"  # px:<account>:<instrument>
EXITS_HINT_PREFIX = "ps:"  # ps:<account>:<instrument>
CANCEL_PREFIX = "oc:"  # oc:<client order id>
MODIFY_PREFIX = "om:"  # om:<client order id>
REFRESH_POSITIONS = "pr"
REFRESH_ORDERS = "or"
MAX_BUTTON_DATA = 64  # bytes, Telegram's limit


def _button(label: str, data: str) -> Button | None:
    return Button(label, data) if len(data.encode()) <= MAX_BUTTON_DATA else None


def _row(*buttons: Button | None) -> tuple[Button, ...]:
    return tuple(b for b in buttons if b is not None)


_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£"}


def money(value: Decimal | None, currency: str = "") -> str:
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    amount = f"{abs(value):,.2f}"
    symbol = _SYMBOLS.get(currency, "")
    if symbol:
        return f"{sign}{symbol}{amount}"
    return f"{sign}{amount} {currency}".rstrip()


def price(value: Decimal | None) -> str:
    """A price with thousands separators and two to four decimals (as many as it has)."""
    if value is None:
        return "–"
    places = min(max(-value.normalize().as_tuple().exponent, 2), 4)  # type: ignore[operator]
    return f"{value:,.{places}f}"


def short_id(order: Order) -> str:
    """The id shown to people: the last six characters of the client order id."""
    return order.client_order_id[-6:]


def describe_request(request: OrderRequest) -> str:
    kind = request.order_type
    text = f"{request.side.value} {request.quantity} {request.instrument}"
    if kind is OrderType.MARKET:
        text += " at market"
    elif kind is OrderType.LIMIT:
        text += f" limit {price(request.price)}"
    elif kind is OrderType.SL:
        text += f" stop {price(request.trigger_price)} limit {price(request.price)}"
    else:
        text += f" stop {price(request.trigger_price)} at market"
    return f"{text} ({request.product.value})"


def describe_exits(request: OrderRequest) -> str:
    exits = request.exits
    parts: list[str] = []
    if exits.stop_loss is not None:
        parts.append(f"SL {exits.stop_loss}{'%' if exits.stop_loss_pct else ''}")
    if exits.target is not None:
        parts.append(f"TP {exits.target}{'%' if exits.target_pct else ''}")
    if exits.trail_pct is not None:
        parts.append(f"trail {exits.trail_pct}%")
    return ", ".join(parts)


def ticket_buttons(ticket: Ticket) -> tuple[tuple[Button, ...], ...]:
    cid = ticket.confirmation.id
    return ((Button("Confirm", CONFIRM_PREFIX + cid), Button("Cancel", DISMISS_PREFIX + cid)),)


def render_ticket(ticket: Ticket) -> Reply:
    lines: list[str] = []
    if ticket.kind is ActionKind.PLACE and ticket.request is not None:
        request = ticket.request
        lines.append(f"<b>{esc(describe_request(request))}</b>")
        lines.append(f"Account: {esc(request.account)}")
        if ticket.last_price is not None:
            lines.append(f"Last price: {price(ticket.last_price)}")
        if ticket.estimated_value is not None:
            lines.append(f"Value about: {money(ticket.estimated_value, ticket.currency)}")
        exits = describe_exits(request)
        if exits:
            lines.append(f"Exits when filled: {esc(exits)}")
    elif ticket.kind is ActionKind.CANCEL and ticket.order is not None:
        order = ticket.order
        lines.append(f"<b>Cancel order {esc(short_id(order))}</b>")
        lines.append(esc(describe_request(order.request)) + f" — {order.status.value}")
    elif ticket.kind is ActionKind.MODIFY and ticket.order is not None:
        order = ticket.order
        lines.append(f"<b>Modify order {esc(short_id(order))}</b>")
        lines.append(esc(describe_request(order.request)))
        changes = []
        if ticket.new_quantity is not None:
            changes.append(f"quantity → {ticket.new_quantity}")
        if ticket.new_price is not None:
            changes.append(f"price → {price(ticket.new_price)}")
        if ticket.new_trigger_price is not None:
            changes.append(f"trigger → {price(ticket.new_trigger_price)}")
        lines.append(esc(", ".join(changes)))
    elif ticket.kind is ActionKind.EXIT and ticket.position is not None:
        position = ticket.position
        side = "SELL" if position.quantity > 0 else "BUY"
        lines.append(
            f"<b>Exit {esc(position.instrument)}: {side} {abs(position.quantity)} at market</b>"
        )
        lines.append(f"Account: {esc(position.account)} ({position.product.value})")
        lines.append(
            f"Last price: {price(position.last_price)}, unrealised P&amp;L "
            f"{money(position.unrealised_pnl, position.currency)}"
        )
    for warning in ticket.warnings:
        lines.append(f"⚠ {esc(warning)}")
    lines.append("<i>Confirm within 60 s.</i>")
    return Reply("\n".join(lines), ticket_buttons(ticket), ticket=ticket.confirmation.id)


def render_result(result: ActionResult, ticket_id: str | None = None) -> Reply:
    order = result.order
    verb = {
        ActionKind.PLACE: "Order",
        ActionKind.EXIT: "Exit order",
        ActionKind.CANCEL: "Cancel of order",
        ActionKind.MODIFY: "Change of order",
    }[result.kind]
    text = f"{verb} <code>{esc(short_id(order))}</code>: {esc(status_text(order))}"
    text += f"\n{esc(describe_request(order.request))}"
    return Reply(text, ticket=ticket_id, edit=ticket_id is not None, order_id=order.client_order_id)


def status_text(order: Order) -> str:
    status = order.status
    if status is OrderStatus.OPEN:
        return "placed, working at the broker"
    if status is OrderStatus.PARTIALLY_FILLED:
        return f"partly filled {order.filled_quantity}/{order.request.quantity}"
    if status is OrderStatus.FILLED:
        return f"filled {order.filled_quantity} at {price(order.average_price)}"
    if status is OrderStatus.REJECTED:
        return f"rejected: {order.message or 'no reason given'}"
    if status is OrderStatus.UNKNOWN:
        return "sent; waiting for the broker to confirm it"
    if status is OrderStatus.PENDING_CANCEL:
        return "cancel requested"
    if status is OrderStatus.PENDING_SUBMIT:
        return "being sent"
    if status is OrderStatus.LOST:
        return f"not found at the broker ({order.message})"
    return status.value.lower().replace("_", " ")


def render_orders(orders: list[Order], edit: bool = False) -> Reply:
    """The order book; each working order gets Cancel and Modify buttons."""
    if not orders:
        return Reply("No orders yet.", edit=edit)
    lines = ["<b>Orders</b>"]
    rows: list[tuple[Button, ...]] = []
    for order in orders:
        ref = short_id(order)
        lines.append(
            f"<code>{esc(ref)}</code> {esc(order.account)} "
            f"{esc(describe_request(order.request))} — {esc(status_text(order))}"
        )
        if order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            row = _row(
                _button(f"Cancel {ref}", CANCEL_PREFIX + order.client_order_id),
                _button(f"Modify {ref}", MODIFY_PREFIX + order.client_order_id),
            )
            if row:
                rows.append(row)
    rows.append((Button("Refresh", REFRESH_ORDERS),))
    return Reply("\n".join(lines), tuple(rows), edit=edit)


def render_positions(groups: list[AccountPositions], edit: bool = False) -> Reply:
    """Positions with P&L; each open one gets Exit and SL/TP buttons."""
    lines = ["<b>Positions</b>"]
    rows: list[tuple[Button, ...]] = []
    any_shown = False
    for group in groups:
        if group.error:
            lines.append(f"{esc(group.account)}: could not fetch positions ({esc(group.error)})")
            continue
        for p in group.positions:
            any_shown = True
            total = p.realised_pnl + p.unrealised_pnl
            if p.is_flat:
                lines.append(
                    f"{esc(p.account)} {esc(p.instrument)} flat — realised "
                    f"{money(p.realised_pnl, p.currency)}"
                )
                continue
            key = f"{p.account}:{p.instrument}"
            row = _row(
                _button(f"Exit {p.instrument.symbol}", EXIT_PREFIX + key),
                _button(f"SL/TP {p.instrument.symbol}", EXITS_HINT_PREFIX + key),
            )
            if row:
                rows.append(row)
            lines.append(
                f"{esc(p.account)} <b>{esc(p.instrument)}</b> {p.quantity:+d} @ "
                f"{price(p.average_price)} ({p.product.value}), last {price(p.last_price)}, "
                f"P&amp;L {money(total, p.currency)} "
                f"(unrealised {money(p.unrealised_pnl, p.currency)})"
            )
    if not any_shown:
        lines.append("No positions.")
    rows.append((Button("Refresh", REFRESH_POSITIONS),))
    return Reply("\n".join(lines), tuple(rows), edit=edit)


def render_quote(quote: Quote) -> Reply:
    text = f"<b>{esc(quote.instrument)}</b> {price(quote.last_price)}"
    if quote.bid is not None and quote.ask is not None:
        text += f" (bid {price(quote.bid)} / ask {price(quote.ask)})"
    return Reply(text)


def render_accounts(accounts: list[AccountInfo]) -> Reply:
    lines = ["<b>Accounts</b>"]
    for info in accounts:
        state = "trading" if info.trading else f"not trading: {info.note}"
        line = f"{esc(info.name)} ({esc(info.broker)}, {esc(info.default_exchange)}) — {esc(state)}"
        if info.balance is not None:
            b = info.balance
            line += (
                f"\n  cash {money(b.cash, b.currency)}, available {money(b.available, b.currency)}"
            )
        elif info.error:
            line += f"\n  balance unavailable: {esc(info.error)}"
        lines.append(line)
    return Reply("\n".join(lines))


def render_status(report: StatusReport) -> Reply:
    uptime = int((report.now - report.started_at).total_seconds())
    lines = [
        "<b>Status</b>",
        f"Up {uptime // 3600}h {uptime % 3600 // 60}m {uptime % 60}s",
        f"Orders in flight: {report.in_flight}",
        f"Alerts waiting: {report.alerts_pending}",
    ]
    for info in report.accounts:
        state = "trading" if info.trading else f"not trading ({info.note})"
        lines.append(f"{esc(info.name)}: {esc(state)}")
    for job in report.jobs:
        lines.append(f"Job {esc(job.name)} ({esc(job.schedule)}): {esc(_job_state(job))}")
    for row in report.halts:
        where = "every account" if row.account == "*" else row.account
        lines.append(f"Halted {esc(where)}: {esc(row.reason)} (since {row.halted_at:%H:%M} UTC)")
    return Reply("\n".join(lines))


def _job_state(job: JobStatus) -> str:
    if job.running:
        state = "running now"
    elif job.next_run is None:
        state = "not scheduled"
    else:
        state = f"next {job.next_run:%a %H:%M %Z}"
    if job.last_run is not None:
        state += f"; last {job.last_run:%a %H:%M %Z}: {job.last_outcome}"
    return state


def render_error(message: str) -> Reply:
    return Reply(f"⚠ {esc(message)}", error=True)


_ALERT_TITLES = {
    EventKind.ORDER_PLACED: "Placed",
    EventKind.ORDER_PARTIALLY_FILLED: "Partly filled",
    EventKind.ORDER_FILLED: "Filled",
    EventKind.ORDER_REJECTED: "Rejected",
    EventKind.ORDER_CANCELLED: "Cancelled",
    EventKind.ORDER_EXPIRED: "Expired",
    EventKind.ORDER_MODIFIED: "Modified",
    EventKind.ORDER_UNKNOWN: "Outcome unknown",
    EventKind.ORDER_LOST: "Lost",
}


_OTHER_TITLES = {
    EventKind.EXIT_ARMED: "Exits armed",
    EventKind.EXIT_TRIGGERED: "Exit triggered",
    EventKind.EXIT_REARMED: "Exit re-armed",
    EventKind.EXIT_DISARMED: "Exit disarmed",
    EventKind.FEED_FALLBACK: "Feed silent, polling",
    EventKind.FEED_RECOVERED: "Feed back",
    EventKind.TOKEN_EXPIRED: "Log in again",
    EventKind.LOGGED_IN: "Logged in",
    EventKind.SYNC_MISMATCH: "Needs a look",
    EventKind.RISK_HALT: "Trading halted",
    EventKind.TRADING_RESUMED: "Trading resumed",
    EventKind.COMPONENT_FAILED: "Component failed",
    EventKind.SQUARE_OFF: "Intraday square-off",
    EventKind.LOGIN_REMINDER: "Login reminder",
    EventKind.DAILY_REPORT: "Day report",
    EventKind.JOB_FAILED: "Scheduled job failed",
}


def render_alert(event: Event) -> str:
    """One alert as a line of Telegram HTML."""
    d = event.data
    if event.kind in _ALERT_TITLES:
        title = _ALERT_TITLES[event.kind]
        ref = d.get("client_order_id", "")[-6:]
        head = f"<b>{title}</b> <code>{esc(ref)}</code> {esc(event.account)}: "
        body = f"{d.get('side', '')} {d.get('quantity', '')} {d.get('instrument', '')}"
        if event.kind is EventKind.ORDER_FILLED or event.kind is EventKind.ORDER_PARTIALLY_FILLED:
            body += (
                f" — {d.get('fill_quantity')} at {_price_text(d.get('fill_price'))}"
                f" ({d.get('filled_quantity')}/{d.get('quantity')} done,"
                f" average {_price_text(d.get('average_price'))})"
            )
        elif event.kind is EventKind.ORDER_CANCELLED:
            body += " by the broker" if d.get("by") == "broker" else ""
        if d.get("message") and event.kind in (
            EventKind.ORDER_REJECTED,
            EventKind.ORDER_CANCELLED,
            EventKind.ORDER_UNKNOWN,
            EventKind.ORDER_LOST,
            EventKind.ORDER_EXPIRED,
        ):
            body += f" — {d['message']}"
        return head + esc(body.strip())
    detail = d.get("message", "")
    title = _OTHER_TITLES.get(event.kind) or event.kind.value.replace("_", " ").capitalize()
    account = f" {esc(event.account)}" if event.account else ""
    return f"<b>{esc(title)}</b>{account}: {esc(detail)}"


def _price_text(text: str | None) -> str:
    return "–" if not text else price(Decimal(text))
