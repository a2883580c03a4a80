"""The pre-trade risk rules: pure functions over a ``RiskContext``, no I/O.

Every rule that refuses raises ``OrderDenied`` with ``rule`` set to the ``[risk]`` key it
enforces (or ``"halt"`` for the kill switch) and a message that names the rule, the order's
number and the limit; nothing is sent. The rules:

- none apply to an EXIT order (``/exit``, an exit rule firing, ``/panic``): pocketdesk never
  blocks a way out;
- the halting rules (``halt``, ``daily_loss_limit``, ``max_open_positions``) spare an entry
  that only reduces a position (opposite side, same instrument and product, no larger than
  what is held beyond the orders already working on that side);
- ``market_hours`` and the size, price and symbol rules apply to every other order.

A limit of 0 (or an empty list) is off. A rule that needs the last price or the positions and
cannot get them refuses ("cannot be checked") rather than letting the order through.
``core.risk.service.RiskService`` gathers the context and runs these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.config import RiskConfig
from core.domain.errors import OrderDenied
from core.domain.market_calendar import MarketCalendar, UnknownExchange
from core.domain.models import (
    Instrument,
    InstrumentId,
    Order,
    OrderPurpose,
    OrderRequest,
    Position,
    Product,
)

_LISTED = 8  # names shown of an allow list in a message


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the rules look at; ``positions`` is ``None`` when the broker could not list them."""

    request: OrderRequest  # normalised: prices on the tick
    instrument: Instrument
    purpose: OrderPurpose
    limits: RiskConfig
    calendar: MarketCalendar
    now: datetime
    last_price: Decimal | None = None
    positions: tuple[Position, ...] | None = ()
    working: tuple[Order, ...] = ()  # the account's orders in flight
    day_pnl: Decimal | None = None
    loss_halt_pnl: Decimal | None = None  # today's P&L when the daily limit was crossed
    halt_reason: str | None = None

    @property
    def account(self) -> str:
        return self.request.account

    @property
    def reduces(self) -> bool:
        """Whether the order only reduces a position (see the module docstring)."""
        return reduces_position(self.request, self.positions or (), self.working)


def reduces_position(
    request: OrderRequest, positions: Iterable[Position], working: Iterable[Order] = ()
) -> bool:
    """An order on the opposite side of a held position, no larger than what is left of it.

    Orders already working on the same side count against the position, so two sells of a
    10-share holding cannot both pass as reducing.
    """
    held = sum(
        p.quantity
        for p in positions
        if p.instrument == request.instrument and p.product == request.product
    )
    if held == 0 or (held > 0) == (request.side.sign > 0):
        return False
    pending = sum(
        o.remaining_quantity
        for o in working
        if o.instrument == request.instrument
        and o.request.product == request.product
        and o.request.side is request.side
    )
    return request.quantity <= abs(held) - pending


def check_order(ctx: RiskContext) -> None:
    """Run every rule for a new order; the first that refuses raises ``OrderDenied``."""
    if ctx.purpose is OrderPurpose.EXIT:
        return
    halting = not ctx.reduces
    if halting:
        check_halt(ctx)
        check_daily_loss(ctx)
    check_market_hours(ctx)
    check_listing(ctx)
    check_size(ctx)
    if halting:
        check_open_positions(ctx)


def check_change(ctx: RiskContext) -> None:
    """The rules for a modified order (``ctx.request`` carries the new values)."""
    if ctx.purpose is OrderPurpose.EXIT:
        return
    check_size(ctx)


def check_halt(ctx: RiskContext) -> None:
    if ctx.halt_reason:
        raise OrderDenied(
            f"new entries on account {ctx.account} are halted: {ctx.halt_reason}; exits and "
            "orders that reduce a position still work (halt)",
            rule="halt",
        )


def check_daily_loss(ctx: RiskContext) -> None:
    limit = ctx.limits.daily_loss_limit
    if not limit:
        return
    pnl = ctx.day_pnl if ctx.day_pnl is not None and ctx.day_pnl <= -limit else None
    pnl = pnl if pnl is not None else ctx.loss_halt_pnl
    if pnl is None:
        return
    raise OrderDenied(
        f"today's P&L reached {money(pnl)}, beyond the daily_loss_limit {number(limit)} for "
        f"account {ctx.account}: new entries are halted for the day; exits and orders that "
        "reduce a position still work",
        rule="daily_loss_limit",
    )


def check_market_hours(ctx: RiskContext) -> None:
    if not ctx.limits.market_hours:
        return
    exchange = ctx.request.instrument.exchange
    try:
        if ctx.calendar.is_open(exchange, ctx.now):
            return
        zone = ctx.calendar.timezone(exchange)
        local = ctx.now.astimezone(zone)
        session = ctx.calendar.session(exchange, local.date())
        reopens = ctx.calendar.next_open(exchange, ctx.now).astimezone(zone)
    except UnknownExchange as exc:
        raise OrderDenied(f"{exc} (market_hours)", rule="market_hours") from None
    if session is None:
        why = "not a trading day"
    else:
        why = f"outside its session {session[0]:%H:%M}-{session[1]:%H:%M}"
    raise OrderDenied(
        f"{exchange} is closed at {local:%a %Y-%m-%d %H:%M %Z} ({why}); it opens "
        f"{reopens:%a %Y-%m-%d %H:%M %Z} (market_hours for account {ctx.account})",
        rule="market_hours",
    )


def check_listing(ctx: RiskContext) -> None:
    """The ``exchanges``, ``symbols`` and ``blocked_symbols`` lists."""
    limits, instrument = ctx.limits, ctx.request.instrument
    names = {str(instrument), instrument.symbol}
    if limits.exchanges and instrument.exchange not in limits.exchanges:
        raise OrderDenied(
            f"{instrument.exchange} is not in exchanges ({_listing(limits.exchanges)}) for "
            f"account {ctx.account}",
            rule="exchanges",
        )
    if limits.symbols and not names & set(limits.symbols):
        raise OrderDenied(
            f"{instrument} is not in symbols ({_listing(limits.symbols)}) for "
            f"account {ctx.account}",
            rule="symbols",
        )
    if names & set(limits.blocked_symbols):
        raise OrderDenied(
            f"{instrument} is in blocked_symbols for account {ctx.account}",
            rule="blocked_symbols",
        )


def check_size(ctx: RiskContext) -> None:
    """``max_order_quantity``, ``max_order_value`` and ``price_band_pct``."""
    limits, request = ctx.limits, ctx.request
    if limits.max_order_quantity and request.quantity > limits.max_order_quantity:
        raise OrderDenied(
            f"quantity {request.quantity:,} is above max_order_quantity "
            f"{limits.max_order_quantity:,} for account {ctx.account}",
            rule="max_order_quantity",
        )
    if limits.max_order_value:
        basis = request.price or request.trigger_price or ctx.last_price
        if basis is None:
            raise OrderDenied(
                f"max_order_value cannot be checked: no last price for {request.instrument}; "
                "give a limit price",
                rule="max_order_value",
            )
        value = basis * request.quantity
        if value > limits.max_order_value:
            raise OrderDenied(
                f"order value {money(value)} {ctx.instrument.currency} is above "
                f"max_order_value {number(limits.max_order_value)} for account {ctx.account}",
                rule="max_order_value",
            )
    check_price_band(ctx)


def check_price_band(ctx: RiskContext) -> None:
    band = ctx.limits.price_band_pct
    prices = [("limit price", ctx.request.price), ("trigger price", ctx.request.trigger_price)]
    priced = [(label, price) for label, price in prices if price is not None]
    if not band or not priced:
        return
    last = ctx.last_price
    if last is None or last <= 0:
        raise OrderDenied(
            f"price_band_pct cannot be checked: no last price for {ctx.request.instrument}",
            rule="price_band_pct",
        )
    for label, price in priced:
        gap = abs(price - last) / last * 100
        if gap > band:
            raise OrderDenied(
                f"{label} {money(price)} is {gap:.2f}% from the last price {money(last)} of "
                f"{ctx.request.instrument}, beyond price_band_pct {number(band)} for "
                f"account {ctx.account}",
                rule="price_band_pct",
            )


def check_open_positions(ctx: RiskContext) -> None:
    limit = ctx.limits.max_open_positions
    if not limit:
        return
    if ctx.positions is None:
        raise OrderDenied(
            f"max_open_positions cannot be checked: the positions of {ctx.account} could not "
            "be read",
            rule="max_open_positions",
        )
    open_now = open_position_keys(ctx.positions, ctx.working)
    key = (ctx.request.instrument, ctx.request.product)
    if key not in open_now and len(open_now) >= limit:
        raise OrderDenied(
            f"account {ctx.account} has {len(open_now)} open positions (or entries working), "
            f"max_open_positions {limit}; {ctx.request.instrument} would be one more",
            rule="max_open_positions",
        )


def open_position_keys(
    positions: Iterable[Position], working: Iterable[Order]
) -> set[tuple[InstrumentId, Product]]:
    """Open positions, and entries working that may open one, by instrument and product."""
    keys = {(p.instrument, p.product) for p in positions if not p.is_flat}
    keys |= {(o.instrument, o.request.product) for o in working if o.purpose is OrderPurpose.ENTRY}
    return keys


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def number(value: Decimal) -> str:
    return f"{value.normalize():,f}" if value == value.to_integral() else f"{value:,}"


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"
