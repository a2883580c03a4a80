"""The jobs of a trading day, built from ``[schedule]``.

- **square-off**, per exchange, at its time in that exchange's zone on its trading days: every
  open intraday (MIS) position on that exchange, on every account, is closed at market through
  the execution pipeline; delivery (CNC) and carry-forward (NRML) positions are left alone. One
  summary alert per account says what was closed and what was not, and why.
- **login reminder** (weekdays): accounts whose broker needs a daily login and cannot trade now
  get an alert that carries the login button.
- **day report** (weekdays): per account, today's orders by status, open positions and P&L.
- **instrument refresh** (weekdays): brokers with a downloaded symbol master fetch it anew, so the
  first order of the day does not wait for the download.
- **P&L snapshot**, every ``pnl_snapshot_s``: the injected recorders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from core.alerts.outbox import AlertOutbox
from core.broker import BrokerRegistry, InstrumentsRefreshable, LoginCapable
from core.config import ScheduleConfig
from core.daily_report import day_report
from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock
from core.domain.errors import ConfigError, UserError
from core.domain.models import OrderPurpose, OrderStatus, Position, Product
from core.orders.execution import ExecutionService
from core.orders.gate import TradingGate
from core.orders.tracker import OrderTracker
from core.scheduler import Job, Scheduler, daily, every

log = logging.getLogger(__name__)

TradingDay = Callable[[str, date], bool]
"""``is_trading_day(exchange, day)``, from the market calendar."""

ExchangeZone = Callable[[str], tzinfo | str]
"""The time zone an exchange keeps its hours in."""

Snapshot = Callable[[], Awaitable[object]]

# Used when no calendar is given, or it does not know the exchange.
EXCHANGE_ZONES = {
    **dict.fromkeys(("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX"), "Asia/Kolkata"),
    **dict.fromkeys(("NYSE", "NASDAQ", "ARCA", "AMEX"), "America/New_York"),
}

SQUARE_OFF_GRACE_S = 5 * 60.0
LOGIN_REMINDER_GRACE_S = 30 * 60.0
REPORT_GRACE_S = 60 * 60.0
REFRESH_GRACE_S = 30 * 60.0  # later than the open, the first use downloads it anyway
WEEKDAYS = "mon-fri"
_FAILED = (OrderStatus.REJECTED, OrderStatus.LOST, OrderStatus.CANCELLED, OrderStatus.EXPIRED)


def every_day_trades(_exchange: str, day: date) -> bool:
    """The fallback calendar: Monday to Friday (the triggers skip weekends already)."""
    return day.weekday() < 5


class DailyJobs:
    """The actions of the jobs, over the services they use."""

    def __init__(
        self,
        registry: BrokerRegistry,
        execution: ExecutionService,
        tracker: OrderTracker,
        gate: TradingGate,
        alerts: AlertOutbox,
        *,
        is_trading_day: TradingDay = every_day_trades,
        timezone: str = "Asia/Kolkata",
        snapshots: Sequence[Snapshot] = (),
    ) -> None:
        self.registry = registry
        self.execution = execution
        self.tracker = tracker
        self.gate = gate
        self.alerts = alerts
        self.is_trading_day = is_trading_day
        self.zone = ZoneInfo(timezone)  # of the reminder, the report and the refresh
        self.snapshots = list(snapshots)

    # --- square-off -----------------------------------------------------------------------

    async def square_off(self, exchange: str, fire: datetime) -> str:
        """Close every open MIS position on ``exchange``, on every account that trades there."""
        names = [
            name
            for name in self.registry.names()
            if exchange in self.registry.get(name).capabilities.exchanges
        ]
        results = await asyncio.gather(*(self._square_off(n, exchange, fire) for n in names))
        closed = sum(c for c, _ in results)
        missed = sum(m for _, m in results)
        if not closed and not missed:
            return f"{exchange}: no intraday positions"
        return f"{exchange}: closed {closed} intraday position(s), {missed} not closed"

    async def _square_off(self, account: str, exchange: str, fire: datetime) -> tuple[int, int]:
        closed: list[str] = []
        # Working intraday entries go first: one filling after the square-off would reopen.
        cancelled, missed = await self._cancel_entries(account, exchange)
        try:
            positions = await self.registry.get(account).fetch_positions()
        except Exception as exc:
            log.warning("square-off %s on %s: positions unreadable: %r", exchange, account, exc)
            missed.append(f"could not read the positions ({_reason(exc)}); check them now")
            positions = []
        for position in positions:
            if (
                position.product is not Product.MIS
                or position.instrument.exchange != exchange
                or position.is_flat
            ):
                continue
            line, ok = await self._close(account, position)
            (closed if ok else missed).append(line)
        if closed or missed or cancelled:
            await self.alerts.add(
                Event(
                    EventKind.SQUARE_OFF,
                    account,
                    {
                        "message": _square_off_text(exchange, fire, closed, missed, cancelled),
                        "exchange": exchange,
                        "closed": str(len(closed)),
                        "not_closed": str(len(missed)),
                    },
                )
            )
        return len(closed), len(missed)

    async def _cancel_entries(self, account: str, exchange: str) -> tuple[list[str], list[str]]:
        """Cancel the intraday entry orders still working on ``exchange``: (done, failed)."""
        done: list[str] = []
        failed: list[str] = []
        for order in await self.tracker.in_flight(account):
            r = order.request
            if (
                order.purpose is not OrderPurpose.ENTRY
                or r.product is not Product.MIS
                or r.instrument.exchange != exchange
                or order.status not in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
            ):
                continue
            ref = order.client_order_id[-6:]
            what = f"{r.side.value} {order.remaining_quantity} {r.instrument} (order {ref})"
            try:
                await self.execution.cancel(order.client_order_id)
            except Exception as exc:
                failed.append(f"{what}: could not cancel: {_reason(exc)}")
            else:
                done.append(what)
        return done, failed

    async def _close(self, account: str, position: Position) -> tuple[str, bool]:
        held = f"{position.instrument} {position.quantity:+d}"
        try:
            order = await self.execution.exit_position(account, position)
        except UserError as exc:  # flat meanwhile, an exit already working, trading closed
            return f"{held}: {exc}", False
        except Exception as exc:
            log.exception("square-off of %s on %s failed", position.instrument, account)
            return f"{held}: {_reason(exc)}", False
        text = f"{held}: {order.request.side.value} {order.request.quantity} at market"
        status = order.status.value.lower().replace("_", " ")
        if order.status in _FAILED:
            return f"{text} {status}" + (f": {order.message}" if order.message else ""), False
        return f"{text}, {status}", True

    def _trades(self, exchange: str, day: date) -> bool:
        try:
            return self.is_trading_day(exchange, day)
        except Exception as exc:  # an exchange the calendar does not know: assume it trades
            log.warning("no trading calendar for %s (%s); assuming %s trades", exchange, exc, day)
            return True

    # --- the other daily jobs -------------------------------------------------------------

    async def login_reminder(self, fire: datetime) -> str:
        """Remind of each daily login that is missing or dead, on its market's trading days."""
        day = fire.astimezone(self.zone).date()
        reminded: list[str] = []
        for name in self.registry.names():
            broker = self.registry.get(name)
            if not isinstance(broker, LoginCapable) or self.gate.is_open(name):
                continue
            if not self._trades(broker.default_exchange, day):
                continue
            message = (
                f"{name} is not logged in ({self.gate.reason(name)}); log in before the market "
                f"opens with /login {name}"
            )
            await self.alerts.add(Event(EventKind.LOGIN_REMINDER, name, {"message": message}))
            reminded.append(name)
        return f"reminded {', '.join(reminded)}" if reminded else "every login is live"

    async def eod_report(self, fire: datetime) -> str:
        """One report per account whose market traded today."""
        day = fire.astimezone(self.zone).date()
        sent: list[str] = []
        for name in self.registry.names():
            broker = self.registry.get(name)
            if not self._trades(broker.default_exchange, day):
                continue
            data = await day_report(broker, self.tracker, day, self.zone)
            await self.alerts.add(Event(EventKind.DAILY_REPORT, name, data))
            sent.append(name)
        return f"reported {', '.join(sent)}" if sent else "no account traded today"

    async def refresh_instruments(self, _fire: datetime) -> str:
        """Download each broker's symbol master anew; a failure is alerted per account."""
        done: list[str] = []
        failed: list[str] = []
        for name in self.registry.names():
            broker = self.registry.get(name)
            if not isinstance(broker, InstrumentsRefreshable):
                continue
            try:
                count = await broker.refresh_instruments()
            except Exception as exc:
                log.warning("instrument refresh of %s failed: %r", name, exc)
                failed.append(name)
                message = f"the instrument download failed ({_reason(exc)}); yesterday's list stays"
                await self.alerts.add(Event(EventKind.JOB_FAILED, name, {"message": message}))
                continue
            done.append(f"{name} {count}")
        parts = [f"refreshed {', '.join(done)}"] if done else []
        parts += [f"failed {', '.join(failed)}"] if failed else []
        return "; ".join(parts) or "nothing to refresh"

    async def snapshot_pnl(self, _fire: datetime) -> str:
        """Run every P&L recorder; any failure fails the run (after the others ran)."""
        errors: list[str] = []
        for snapshot in self.snapshots:
            try:
                await snapshot()
            except Exception as exc:
                log.warning("P&L snapshot failed: %r", exc)
                errors.append(_reason(exc))
        if errors:
            raise RuntimeError("; ".join(errors))
        return f"{len(self.snapshots)} snapshot(s) taken"


def build_jobs(
    schedule: ScheduleConfig,
    jobs: DailyJobs,
    clock: Clock,
    exchange_zone: ExchangeZone | None = None,
) -> list[Job]:
    """The jobs ``[schedule]`` switches on; raise ``ConfigError`` for an exchange without a zone."""
    zone = ZoneInfo(schedule.timezone)
    built: list[Job] = []
    for exchange, at in schedule.square_off.items():
        if at:
            built.append(_square_off_job(exchange, at, _zone_of(exchange, exchange_zone), jobs))
    daily_jobs: tuple[tuple[str, str, float, Callable[[datetime], Awaitable[str]]], ...] = (
        (
            "instrument-refresh",
            schedule.instrument_refresh,
            REFRESH_GRACE_S,
            jobs.refresh_instruments,
        ),
        ("login-reminder", schedule.login_reminder, LOGIN_REMINDER_GRACE_S, jobs.login_reminder),
        ("eod-report", schedule.eod_report, REPORT_GRACE_S, jobs.eod_report),
    )
    for name, at, grace_s, action in daily_jobs:
        if at:
            built.append(
                Job(
                    name,
                    daily(at, zone, WEEKDAYS),
                    action,
                    grace_s,
                    schedule=f"{WEEKDAYS} {at} {schedule.timezone}",
                )
            )
    if jobs.snapshots:
        interval = schedule.pnl_snapshot_s
        first = clock.now() + timedelta(seconds=interval)
        built.append(
            Job(
                "pnl-snapshot",
                every(interval, first),
                jobs.snapshot_pnl,
                interval,
                schedule=f"every {interval:g} s",
            )
        )
    return built


def build_scheduler(
    schedule: ScheduleConfig,
    jobs: DailyJobs,
    clock: Clock,
    *,
    exchange_zone: ExchangeZone | None = None,
    max_sleep_s: float = 1.0,
) -> Scheduler:
    """A scheduler holding the day's jobs, alerting failures through the outbox."""
    scheduler = Scheduler(clock, alert=jobs.alerts.add, max_sleep_s=max_sleep_s)
    for job in build_jobs(schedule, jobs, clock, exchange_zone):
        scheduler.add(job)
    return scheduler


def _square_off_job(exchange: str, at: str, zone: tzinfo, jobs: DailyJobs) -> Job:
    async def action(fire: datetime) -> str:
        return await jobs.square_off(exchange, fire)

    def trades(fire: datetime) -> bool:
        return jobs.is_trading_day(exchange, fire.astimezone(zone).date())

    return Job(
        f"square-off:{exchange}",
        daily(at, zone, WEEKDAYS),
        action,
        SQUARE_OFF_GRACE_S,
        runs_on=trades,
        schedule=f"{exchange} trading days {at} {zone}",
    )


def _zone_of(exchange: str, exchange_zone: ExchangeZone | None) -> tzinfo:
    found: tzinfo | str | None = None
    if exchange_zone is not None:
        try:
            found = exchange_zone(exchange)
        except Exception:
            found = None
    found = found or EXCHANGE_ZONES.get(exchange)
    if found is None:
        raise ConfigError(
            f"[schedule] square_off names {exchange!r}, whose time zone is unknown; "
            f"known exchanges: {', '.join(sorted(EXCHANGE_ZONES))}"
        )
    return ZoneInfo(found) if isinstance(found, str) else found


def _square_off_text(
    exchange: str, fire: datetime, closed: list[str], missed: list[str], cancelled: list[str]
) -> str:
    lines = [f"{exchange} intraday square-off at {fire:%H:%M %Z}"]
    if cancelled:
        lines.append(f"cancelled {len(cancelled)} working intraday order(s):")
        lines += [f"• {line}" for line in cancelled]
    if closed:
        lines.append(f"closed {len(closed)}:")
        lines += [f"• {line}" for line in closed]
    if missed:
        lines.append(f"NOT closed {len(missed)} — act now:")
        lines += [f"• {line}" for line in missed]
    return "\n".join(lines)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
