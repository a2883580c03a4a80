"""Profit and loss per account: snapshots over time, the day's P&L, and the /pnl report.

Brokers report P&L in different ways: the paper broker's realised P&L grows across days (it has
no day rollover) and Kite's net positions carry overnight P&L. So the day's P&L is measured the
same way everywhere, as the change in (realised + unrealised) since the day began: since the
account's last snapshot before the day's start, or, when there is none, since its first snapshot
of the day. A scheduler calls ``PnlService.snapshot`` every ``schedule.pnl_snapshot_s``.

An account whose positions cannot be fetched is logged and skipped: it is never recorded (or
reported) as flat. Amounts in different currencies are never added together.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.broker import BrokerRegistry
from core.domain.clock import Clock
from core.domain.errors import UserError
from core.domain.models import InstrumentId, Position, Product
from core.storage.db import Database
from core.storage.pnl import Amounts, PnlRepository, Snapshot

log = logging.getLogger(__name__)

PERIODS = ("today", "week")
WEEK_DAYS = 7
FULL_DETAIL_DAYS = 2  # today and yesterday keep every snapshot; older days keep two a day
KEEP_DAYS = 30  # snapshots of older days are forgotten
HOUSEKEEPING_EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class PositionPnl:
    """One position's P&L as its broker reports it now (not only today's part of it)."""

    instrument: InstrumentId
    product: Product
    quantity: int
    realised: Decimal
    unrealised: Decimal

    @property
    def total(self) -> Decimal:
        return self.realised + self.unrealised


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """The account's P&L since the day began, at one moment."""

    at: datetime
    value: Decimal


@dataclass(frozen=True, slots=True)
class DayTotal:
    """One day's P&L; ``None`` when nothing was recorded that day."""

    day: date
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class AccountPnl:
    """One account's P&L in one currency (an account trading in two has two of these).

    ``realised`` and ``unrealised`` are their changes since the day began; ``currency`` is ""
    for an account that has held nothing.
    """

    account: str
    currency: str
    realised: Decimal
    unrealised: Decimal
    positions: tuple[PositionPnl, ...] = ()
    curve: tuple[CurvePoint, ...] = ()  # "today": oldest first, ending now
    days: tuple[DayTotal, ...] = ()  # "week": oldest first, ending today

    @property
    def total(self) -> Decimal:
        return self.realised + self.unrealised


@dataclass(frozen=True, slots=True)
class AccountFailure:
    account: str
    reason: str


@dataclass(frozen=True, slots=True)
class PnlReport:
    """What ``/pnl`` shows: ``accounts`` in registry order, and the accounts that failed."""

    period: str
    day: date  # the trading day, in ``zone``
    zone: tzinfo
    generated_at: datetime
    accounts: tuple[AccountPnl, ...] = ()
    failures: tuple[AccountFailure, ...] = ()

    @property
    def zone_name(self) -> str:
        return self.generated_at.astimezone(self.zone).tzname() or str(self.zone)


class PnlService:
    """Records P&L snapshots and answers the day's P&L and the /pnl report."""

    def __init__(
        self, db: Database, registry: BrokerRegistry, clock: Clock, day_zone: str | tzinfo
    ) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.zone = ZoneInfo(day_zone) if isinstance(day_zone, str) else day_zone
        self._repo = PnlRepository()
        self._housekept_at: float | None = None

    # --- the trading day -----------------------------------------------------------------

    def day_of(self, moment: datetime) -> date:
        """The trading day a moment belongs to."""
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """When a trading day begins, in UTC."""
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC)

    # --- recording -----------------------------------------------------------------------

    async def snapshot(self) -> list[str]:
        """Record every account's P&L now; return the accounts recorded (for the scheduler).

        An account whose positions cannot be fetched is logged and left out.
        """
        now = self.clock.now()
        live = await self._fetch(self.registry.names())
        recorded: list[str] = []
        async with self.db.transaction() as tx:
            for name, found in live.items():
                if isinstance(found, str):
                    log.warning("P&L of %s not recorded: %s", name, found)
                    continue
                await self._repo.insert(tx, Snapshot(name, now, _amounts(found)), self._label(now))
                recorded.append(name)
        if self._housekeeping_due():
            await self.housekeep()
        return recorded

    async def housekeep(self) -> tuple[int, int]:
        """Thin out days before yesterday to two snapshots each; forget those past KEEP_DAYS.

        Returns (rows thinned, rows pruned).
        """
        today = self.day_of(self.clock.now())
        self._housekept_at = self.clock.monotonic()
        async with self.db.transaction() as tx:
            thinned = await self._repo.thin(
                tx, (today - timedelta(FULL_DETAIL_DAYS - 1)).isoformat()
            )
            pruned = await self._repo.prune(tx, (today - timedelta(KEEP_DAYS)).isoformat())
        if thinned or pruned:
            log.info("P&L snapshots: %d thinned out, %d pruned", thinned, pruned)
        return thinned, pruned

    def _housekeeping_due(self) -> bool:
        last = self._housekept_at
        return last is None or self.clock.monotonic() - last >= HOUSEKEEPING_EVERY_S

    # --- the day's P&L -------------------------------------------------------------------

    async def day_pnl(
        self, account: str, positions: Sequence[Position] | None = None
    ) -> Decimal | None:
        """The account's P&L since the day began, from ``positions`` just read from the broker
        (fetched live when not given).

        ``None`` when it is unknown: the positions could not be fetched, or the account's P&L
        is in several currencies (use ``day_pnl_by_currency``).
        """
        by_currency = await self.day_pnl_by_currency(account, positions)
        if by_currency is None or len(by_currency) > 1:
            return None
        return sum(by_currency.values(), Decimal(0))

    async def day_pnl_by_currency(
        self, account: str, positions: Sequence[Position] | None = None
    ) -> dict[str, Decimal] | None:
        """The account's P&L since the day began, per currency; ``None`` when unknown."""
        name = self.registry.get(account).account
        now = self.clock.now()
        found = list(positions) if positions is not None else (await self._fetch([name]))[name]
        if isinstance(found, str):
            log.warning("day P&L of %s unknown: %s", name, found)
            return None
        live = Snapshot(name, now, _amounts(found))
        await self._record_if_first([live])
        start = self.start_of(self.day_of(now))
        async with self.db.read() as tx:
            base = await self._repo.last_before(tx, name, start)
            base = base or await self._repo.first_from(tx, name, start) or live
        currencies = _currencies([live, base])
        return {c: live.of(c).total - base.of(c).total for c in currencies}

    # --- the report ----------------------------------------------------------------------

    async def report(self, period: str = "today", account: str | None = None) -> PnlReport:
        """Per account: the day's realised/unrealised/total and positions, plus the period's
        series (the day's curve for "today", seven daily totals for "week")."""
        if period not in PERIODS:
            raise UserError(f"{period!r} is not a period: use today or week")
        names = [self.registry.get(account).account] if account else self.registry.names()
        now = self.clock.now()
        today = self.day_of(now)
        fetched = await self._fetch(names)
        live = {
            name: Snapshot(name, now, _amounts(found))
            for name, found in fetched.items()
            if not isinstance(found, str)
        }
        await self._record_if_first(list(live.values()))
        first = today - timedelta(WEEK_DAYS - 1) if period == "week" else today
        accounts: list[AccountPnl] = []
        failures: list[AccountFailure] = []
        for name in names:
            found = fetched[name]
            if isinstance(found, str):
                failures.append(AccountFailure(name, found))
                continue
            before, inside = await self._history(name, first, now)
            accounts.extend(
                self._account_pnl(name, found, live[name], before, inside, first, today, period)
            )
        return PnlReport(period, today, self.zone, now, tuple(accounts), tuple(failures))

    def _account_pnl(
        self,
        name: str,
        positions: list[Position],
        live: Snapshot,
        before: Snapshot | None,
        inside: list[Snapshot],
        first: date,
        today: date,
        period: str,
    ) -> list[AccountPnl]:
        start = self.start_of(today)
        earlier = [s for s in inside if s.taken_at < start]
        todays = [s for s in inside if s.taken_at >= start] + [live]
        day_before = earlier[-1] if earlier else before
        window = [before, *inside] if period == "week" else [day_before, *todays]
        currencies = _currencies([live, *window]) or [""]
        changes = _day_changes(day_before, todays, currencies)
        out: list[AccountPnl] = []
        for currency in currencies:
            curve: tuple[CurvePoint, ...] = ()
            days: tuple[DayTotal, ...] = ()
            if period == "today":
                curve = _curve(day_before, todays, currency, start)
            else:
                days = tuple(self._days(before, inside, live, currency, first, today))
            change = changes[currency]
            out.append(
                AccountPnl(
                    account=name,
                    currency=currency,
                    realised=change.realised,
                    unrealised=change.unrealised,
                    positions=_position_rows(positions, currency),
                    curve=curve,
                    days=days,
                )
            )
        return out

    def _days(
        self,
        before: Snapshot | None,
        inside: list[Snapshot],
        live: Snapshot,
        currency: str,
        first: date,
        today: date,
    ) -> Iterable[DayTotal]:
        """Each day from ``first`` to ``today``: the change from its baseline to its close."""
        day = first
        while day <= today:
            start, end = self.start_of(day), self.start_of(day + timedelta(1))
            that_day = [s for s in inside if start <= s.taken_at < end]
            if day == today:
                that_day.append(live)
            if not that_day:
                yield DayTotal(day, None)
            else:
                base = (before or that_day[0]).of(currency)
                yield DayTotal(day, that_day[-1].of(currency).total - base.total)
                before = that_day[-1]
            day += timedelta(1)

    # --- storage and brokers -------------------------------------------------------------

    def _label(self, moment: datetime) -> str:
        return self.day_of(moment).isoformat()

    async def _history(
        self, account: str, first: date, now: datetime
    ) -> tuple[Snapshot | None, list[Snapshot]]:
        """The last snapshot before ``first`` began, and every one since, up to (not at) ``now``."""
        start = self.start_of(first)
        async with self.db.read() as tx:
            before = await self._repo.last_before(tx, account, start)
            inside = await self._repo.between(tx, account, start, now)
        return before, inside

    async def _record_if_first(self, live: Sequence[Snapshot]) -> None:
        """Store a live reading when the account has no snapshot before it: it is then the
        day's baseline (which later readings must not move), as a scheduled snapshot would be."""
        async with self.db.transaction() as tx:
            for snapshot in live:
                moment = snapshot.taken_at
                if await self._repo.last_before(tx, snapshot.account, moment) is None:
                    await self._repo.insert(tx, snapshot, self._label(moment))

    async def _fetch(self, names: Sequence[str]) -> dict[str, list[Position] | str]:
        """Each account's positions, or why they could not be fetched."""
        brokers = [self.registry.get(name) for name in names]
        results = await asyncio.gather(
            *(broker.fetch_positions() for broker in brokers), return_exceptions=True
        )
        out: dict[str, list[Position] | str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                out[name] = f"could not fetch positions: {str(result) or type(result).__name__}"
            else:
                out[name] = result
        return out


def _amounts(positions: Iterable[Position]) -> dict[str, Amounts]:
    """Realised and unrealised P&L summed per currency."""
    totals: dict[str, Amounts] = defaultdict(Amounts)
    for p in positions:
        totals[p.currency] += Amounts(p.realised_pnl, p.unrealised_pnl)
    return dict(totals)


def _currencies(snapshots: Iterable[Snapshot | None]) -> list[str]:
    """Every currency that appears in the snapshots, sorted."""
    seen: set[str] = set()
    for snapshot in snapshots:
        if snapshot is not None:
            seen.update(snapshot.amounts)
    return sorted(seen)


def _day_changes(
    before: Snapshot | None, todays: list[Snapshot], currencies: Iterable[str]
) -> dict[str, Amounts]:
    """The change of each currency's amounts from the day's baseline to its latest snapshot."""
    base = before or todays[0]
    return {c: todays[-1].of(c) - base.of(c) for c in currencies}


def _curve(
    before: Snapshot | None, todays: list[Snapshot], currency: str, start: datetime
) -> tuple[CurvePoint, ...]:
    base = (before or todays[0]).of(currency).total
    points = [CurvePoint(start, Decimal(0))] if before is not None else []
    points.extend(CurvePoint(s.taken_at, s.of(currency).total - base) for s in todays)
    return tuple(points)


def _position_rows(positions: Iterable[Position], currency: str) -> tuple[PositionPnl, ...]:
    """The positions in ``currency`` that are open or have P&L, largest first."""
    rows = [
        PositionPnl(p.instrument, p.product, p.quantity, p.realised_pnl, p.unrealised_pnl)
        for p in positions
        if p.currency == currency and (p.quantity or p.realised_pnl)
    ]
    rows.sort(key=lambda r: (-abs(r.total), str(r.instrument)))
    return tuple(rows)
