"""Pre-trade risk checks in the execution pipeline: the service that gathers their context.

The rules themselves are pure functions in ``core.risk.rules`` (re-exported here); this
module fetches what they look at (the last price, the positions, the orders working, the
day's P&L, the kill switch) and keeps the daily-loss halt, alerting once per account and day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.broker import Broker
from core.config import RiskConfig
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock
from core.domain.market_calendar import MarketCalendar
from core.domain.models import Instrument, InstrumentId, Order, OrderPurpose, OrderRequest, Position
from core.risk.rules import (
    RiskContext,
    check_change,
    check_order,
    money,
    number,
    reduces_position,
)

__all__ = [
    "AlertWriter",
    "DayPnl",
    "HaltReason",
    "RiskContext",
    "RiskService",
    "WorkingOrders",
    "check_change",
    "check_order",
    "reduces_position",
]

log = logging.getLogger(__name__)

DayPnl = Callable[[str, Sequence[Position]], Awaitable[Decimal | None]]
"""The account's P&L for today (realised + unrealised), or ``None`` when not known, from the
positions the checks just read."""
HaltReason = Callable[[str], str | None]
"""Why new entries on the account are halted (the kill switch), or ``None``."""
AlertWriter = Callable[[Event], Awaitable[None]]
WorkingOrders = Callable[[str], Awaitable[list[Order]]]


class RiskService:
    """Gathers a ``RiskContext`` through the broker and runs the rules.

    ``day_pnl`` and ``halt_reason`` come from the P&L tracker and the kill switch; until those
    are attached they answer "unknown" and "not halted". The daily-loss halt is kept in memory
    per account and day (in ``day_zone``): after a restart it is re-established by the next P&L
    reading below the limit, with one new alert.
    """

    def __init__(
        self,
        limits: Mapping[str, RiskConfig],
        clock: Clock,
        *,
        calendar: MarketCalendar | None = None,
        working: WorkingOrders | None = None,
        alert: AlertWriter | None = None,
        day_pnl: DayPnl | None = None,
        halt_reason: HaltReason | None = None,
        day_zone: ZoneInfo | None = None,
    ) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self.working = working
        self.alert = alert
        self.day_pnl: DayPnl = day_pnl or _unknown_pnl
        self.halt_reason: HaltReason = halt_reason or _no_halt
        self.day_zone = day_zone or ZoneInfo("Asia/Kolkata")
        self._default = RiskConfig()
        self._calendars = _calendars(self.limits.values(), calendar)
        self._loss_halts: dict[str, tuple[date, Decimal]] = {}

    def limits_for(self, account: str) -> RiskConfig:
        """The account's limits (the ``[risk]`` defaults for an account not configured)."""
        return self.limits.get(account, self._default)

    def calendar_for(self, account: str) -> MarketCalendar:
        return self._calendars[self.limits_for(account).calendar_file]

    async def check(
        self,
        broker: Broker,
        request: OrderRequest,
        instrument: Instrument,
        purpose: OrderPurpose = OrderPurpose.ENTRY,
        *,
        last_price: Decimal | None = None,
    ) -> None:
        """Check a normalised request; ``OrderDenied`` names the rule. Exits pass untouched."""
        if purpose is OrderPurpose.EXIT:
            return  # no broker round trip on the exit path
        account = request.account
        limits = self.limits_for(account)
        wants_last = last_price is None and (
            limits.max_order_value or (limits.price_band_pct and _priced(request))
        )
        last, positions, working = await asyncio.gather(
            self._last_price(broker, instrument.id) if wants_last else _value(last_price),
            self._positions(broker),
            self._working(account),
        )
        # The day's P&L comes from the same read of the positions: one broker call, not two.
        pnl = None
        if limits.daily_loss_limit and positions is not None:
            pnl = await self._day_pnl(account, positions)
        await self.note_day_pnl(account, pnl)
        check_order(
            RiskContext(
                request=request,
                instrument=instrument,
                purpose=purpose,
                limits=limits,
                calendar=self.calendar_for(account),
                now=self.clock.now(),
                last_price=last,
                positions=positions,
                working=working,
                day_pnl=pnl,
                loss_halt_pnl=self.loss_halt(account),
                halt_reason=self.halt_reason(account),
            )
        )

    async def check_modify(
        self,
        broker: Broker,
        order: Order,
        instrument: Instrument,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> None:
        """Check a working order's new quantity, price or trigger (already on the tick)."""
        if order.purpose is OrderPurpose.EXIT:
            return
        request = replace(
            order.request,
            quantity=order.request.quantity if quantity is None else quantity,
            price=order.request.price if price is None else price,
            trigger_price=order.request.trigger_price if trigger_price is None else trigger_price,
        )
        check_change(
            RiskContext(
                request=request,
                instrument=instrument,
                purpose=order.purpose,
                limits=self.limits_for(order.account),
                calendar=self.calendar_for(order.account),
                now=self.clock.now(),
                last_price=await self._last_price(broker, instrument.id),
            )
        )

    async def note_day_pnl(self, account: str, pnl: Decimal | None) -> bool:
        """Record today's P&L; on the first crossing of the daily limit today, halt and alert.

        Returns True when this call halted the account. Called by the periodic P&L job and by
        every check, so the alert goes out once per account and day whichever sees it first.
        """
        limit = self.limits_for(account).daily_loss_limit
        if not limit or pnl is None or pnl > -limit or self.loss_halt(account) is not None:
            return False
        self._loss_halts[account] = (self._today(), pnl)  # before awaiting: one alert only
        log.warning("daily loss limit crossed on %s: P&L %s", account, pnl)
        if self.alert is not None:
            message = (
                f"{account}: today's P&L {money(pnl)} crossed the daily_loss_limit "
                f"{number(limit)}. New entries are halted for the rest of the day; exits, stops "
                "and orders that reduce a position still work."
            )
            data = {"message": message, "rule": "daily_loss_limit", "pnl": str(pnl)}
            await self.alert(Event(EventKind.RISK_HALT, account, {**data, "limit": str(limit)}))
        return True

    def loss_halt(self, account: str) -> Decimal | None:
        """Today's P&L at the crossing when the account is halted by its daily limit."""
        halt = self._loss_halts.get(account)
        return halt[1] if halt is not None and halt[0] == self._today() else None

    def _today(self) -> date:
        return self.clock.now().astimezone(self.day_zone).date()

    async def _last_price(self, broker: Broker, instrument: InstrumentId) -> Decimal | None:
        try:
            quote = (await broker.fetch_quotes([instrument])).get(instrument)
        except Exception as exc:
            log.warning("no quote of %s for the risk checks: %r", instrument, exc)
            return None
        return None if quote is None else quote.last_price

    async def _positions(self, broker: Broker) -> tuple[Position, ...] | None:
        try:
            return tuple(await broker.fetch_positions())
        except Exception as exc:
            log.warning("no positions of %s for the risk checks: %r", broker.account, exc)
            return None

    async def _working(self, account: str) -> tuple[Order, ...]:
        return () if self.working is None else tuple(await self.working(account))

    async def _day_pnl(self, account: str, positions: Sequence[Position]) -> Decimal | None:
        try:
            return await self.day_pnl(account, positions)
        except Exception as exc:
            log.warning("no P&L of %s for the daily loss limit: %r", account, exc)
            return None


def _calendars(
    limits: Iterable[RiskConfig], calendar: MarketCalendar | None
) -> dict[str, MarketCalendar]:
    """One calendar per ``calendar_file`` named, each file read once (at start-up)."""
    files = {"", *(config.calendar_file for config in limits)}
    if calendar is not None:
        return dict.fromkeys(files, calendar)
    return {path: MarketCalendar.load(path) if path else MarketCalendar.bundled() for path in files}


def _priced(request: OrderRequest) -> bool:
    return request.price is not None or request.trigger_price is not None


async def _value(value: Decimal | None) -> Decimal | None:
    return value


async def _unknown_pnl(account: str, positions: Sequence[Position]) -> Decimal | None:
    return None


def _no_halt(account: str) -> str | None:
    return None
