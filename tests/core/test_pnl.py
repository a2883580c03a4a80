"""P&L snapshots, the day's P&L across the trading day's boundary (IST), and the /pnl report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.broker import BrokerRegistry
from core.domain.clock import ManualClock
from core.domain.errors import BrokerUnavailable, UserError
from core.domain.models import InstrumentId, Position, Product
from core.pnl import KEEP_DAYS, PnlService
from core.storage import Database
from core.storage.pnl import PnlRepository, Snapshot

INFY = InstrumentId("NSE", "INFY")
TCS = InstrumentId("NSE", "TCS")
AAPL = InstrumentId("NASDAQ", "AAPL")
# 18:20 UTC is 23:50 IST; the trading day (Asia/Kolkata) turns over at 18:30 UTC.
LATE_MONDAY = datetime(2026, 1, 5, 18, 20, tzinfo=UTC)


class StubBroker:
    """Only what the P&L service asks of a broker: its name and its positions."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.positions: list[Position] = []
        self.down = False

    async def fetch_positions(self) -> list[Position]:
        if self.down:
            raise BrokerUnavailable("connection refused")
        return list(self.positions)

    def hold(
        self,
        realised: str,
        unrealised: str = "0",
        instrument: InstrumentId = INFY,
        currency: str = "INR",
        quantity: int = 10,
    ) -> None:
        """One position with these P&L figures (the last price is set to give ``unrealised``)."""
        average = Decimal(100)
        last = average + Decimal(unrealised) / quantity if quantity else average
        others = [p for p in self.positions if p.instrument != instrument]
        self.positions = [
            *others,
            Position(
                self.account,
                instrument,
                Product.CNC,
                quantity,
                average,
                last,
                Decimal(realised),
                currency,
            ),
        ]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "pnl.db")
    yield database
    await database.close()


def service(db: Database, clock: ManualClock, *brokers: StubBroker) -> PnlService:
    registry = BrokerRegistry()
    for broker in brokers:
        registry.add_account(broker)  # type: ignore[arg-type]
    return PnlService(db, registry, clock, "Asia/Kolkata")


async def rows(db: Database, account: str | None = None) -> list[Any]:
    async with db.read() as tx:
        found = await tx.fetchall(
            "SELECT account, day, currency, realised, unrealised FROM pnl_snapshots"
            " ORDER BY taken_at, currency"
        )
    return [r for r in found if account is None or r["account"] == account]


async def test_the_days_pnl_is_the_change_since_the_last_snapshot_before_the_ist_day_began(
    db: Database,
) -> None:
    clock = ManualClock(LATE_MONDAY)
    paper = StubBroker("paper")
    pnl = service(db, clock, paper)
    paper.hold("1000", "200")  # Monday's (and earlier days') P&L: the paper broker never resets
    assert await pnl.snapshot() == ["paper"]
    assert await pnl.day_pnl("paper") == Decimal(0)  # Monday began before the first snapshot

    clock.advance(20 * 60)  # 00:10 IST on Tuesday: a new trading day
    assert pnl.day_of(clock.now()) == date(2026, 1, 6)
    paper.hold("1500", "-100")
    assert await pnl.day_pnl("paper") == Decimal(200)  # (1500 - 100) - (1000 + 200)

    by_currency = await pnl.day_pnl_by_currency("paper")
    assert by_currency == {"INR": Decimal(200)}
    report = await pnl.report("today")
    [account] = report.accounts
    assert (account.realised, account.unrealised) == (Decimal(500), Decimal(-300))
    assert account.total == Decimal(200) and account.currency == "INR"
    assert report.day == date(2026, 1, 6) and report.zone_name == "IST"


async def test_without_an_earlier_snapshot_the_first_of_the_day_is_the_baseline(
    db: Database,
) -> None:
    clock = ManualClock(datetime(2026, 1, 6, 4, 0, tzinfo=UTC))  # 09:30 IST
    paper = StubBroker("paper")
    pnl = service(db, clock, paper)
    paper.hold("700", "50")
    assert await pnl.day_pnl("paper") == Decimal(0)  # the live reading became the baseline
    assert len(await rows(db)) == 1
    clock.advance(3600)
    paper.hold("800", "-30")
    assert await pnl.day_pnl("paper") == Decimal(20)  # 770 - 750
    assert len(await rows(db)) == 1  # later live readings are not stored; snapshots are


async def test_an_account_whose_fetch_fails_is_skipped_never_recorded_as_flat(
    db: Database,
) -> None:
    clock = ManualClock(LATE_MONDAY)
    paper, kite = StubBroker("paper"), StubBroker("kite")
    pnl = service(db, clock, paper, kite)
    paper.hold("100")
    kite.hold("-400", "50")
    await pnl.snapshot()
    kite.down = True
    clock.advance(60)
    assert await pnl.snapshot() == ["paper"]
    assert [r["realised"] for r in await rows(db, "kite")] == ["-400"]
    assert await pnl.day_pnl("kite") is None

    report = await pnl.report()
    assert [a.account for a in report.accounts] == ["paper"]
    [failure] = report.failures
    assert failure.account == "kite" and "connection refused" in failure.reason


async def test_an_account_that_holds_nothing_is_recorded_as_flat_and_then_counts_from_zero(
    db: Database,
) -> None:
    clock = ManualClock(LATE_MONDAY + timedelta(hours=1))  # Tuesday 00:50 IST
    paper = StubBroker("paper")
    pnl = service(db, clock, paper)
    await pnl.snapshot()
    [flat] = await rows(db)
    assert (flat["currency"], flat["realised"], flat["unrealised"]) == ("", "0", "0")
    clock.advance(3600)
    paper.hold("250", "25")  # a trade after the flat snapshot: all of it is today's
    assert await pnl.day_pnl("paper") == Decimal(275)
    [account] = (await pnl.report()).accounts
    assert account.currency == "INR" and account.total == Decimal(275)


async def test_currencies_are_never_added_together(db: Database) -> None:
    clock = ManualClock(LATE_MONDAY)
    ibkr = StubBroker("ibkr")
    pnl = service(db, clock, ibkr)
    ibkr.hold("10", instrument=AAPL, currency="USD")
    ibkr.hold("100")
    await pnl.snapshot()
    clock.advance(3600)
    ibkr.hold("15", instrument=AAPL, currency="USD")
    assert await pnl.day_pnl_by_currency("ibkr") == {"INR": Decimal(0), "USD": Decimal(5)}
    assert await pnl.day_pnl("ibkr") is None
    report = await pnl.report()
    assert [(a.currency, a.total) for a in report.accounts] == [
        ("INR", Decimal(0)),
        ("USD", Decimal(5)),
    ]
    usd = report.accounts[1]
    assert [p.instrument for p in usd.positions] == [AAPL]


async def test_the_curve_of_today_starts_at_zero_and_follows_the_snapshots(db: Database) -> None:
    clock = ManualClock(LATE_MONDAY)
    paper = StubBroker("paper")
    pnl = service(db, clock, paper)
    paper.hold("0", "100")
    await pnl.snapshot()
    clock.advance(20 * 60)  # Tuesday
    for unrealised in ("150", "90", "130"):
        paper.hold("0", unrealised)
        await pnl.snapshot()
        clock.advance(60)
    paper.hold("0", "60")
    [account] = (await pnl.report("today")).accounts
    values = [point.value for point in account.curve]
    assert values == [0, 50, -10, 30, -40]  # the day's start, three snapshots, now
    assert account.curve[0].at == pnl.start_of(date(2026, 1, 6))
    assert account.curve[-1].at == clock.now()
    assert account.days == ()


async def test_the_week_is_seven_daily_totals_with_gaps_for_days_without_snapshots(
    db: Database,
) -> None:
    clock = ManualClock(datetime(2026, 1, 1, 5, 0, tzinfo=UTC))  # Thursday 10:30 IST
    paper = StubBroker("paper")
    pnl = service(db, clock, paper)
    realised = Decimal(0)
    for day_gain in (100, -50, None, 300, -20, 10, 40, 5):  # eight days, the 3rd not recorded
        if day_gain is not None:
            await pnl.snapshot()  # the day's opening reading
            realised += day_gain
            paper.hold(str(realised))
            clock.advance(3600)
            await pnl.snapshot()
        clock.advance(23 * 3600)
    # Now Friday 9 Jan 09:30 IST; the last snapshot was at 10:30 IST on Thursday the 8th.
    paper.hold(str(realised + 7))
    report = await pnl.report("week")
    [account] = report.accounts
    assert [d.day for d in account.days] == [date(2026, 1, n) for n in range(3, 10)]
    assert [d.value for d in account.days] == [None, 300, -20, 10, 40, 5, 7]
    assert account.total == Decimal(7) and account.curve == ()


async def test_old_days_are_thinned_to_two_snapshots_and_dropped_after_the_kept_days(
    db: Database,
) -> None:
    clock = ManualClock(datetime(2026, 1, 1, 4, 0, tzinfo=UTC))
    paper = StubBroker("paper")
    pnl = service(db, clock, paper)
    for day in range(KEEP_DAYS + 5):
        for minute in range(5):
            paper.hold(str(day * 10 + minute))
            await pnl.housekeep()
            await pnl.snapshot()
            clock.advance(60)
        clock.advance(86400 - 5 * 60)
    await pnl.housekeep()
    today = pnl.day_of(clock.now())
    async with db.read() as tx:
        per_day = await tx.fetchall(
            "SELECT day, COUNT(*) AS n FROM pnl_snapshots GROUP BY day ORDER BY day"
        )
        total = await PnlRepository().count(tx)
    counts = {r["day"]: r["n"] for r in per_day}
    assert min(counts) == (today - timedelta(KEEP_DAYS)).isoformat()
    assert counts[(today - timedelta(1)).isoformat()] == 5  # yesterday keeps every snapshot
    assert all(n == 2 for day, n in counts.items() if day < (today - timedelta(1)).isoformat())
    assert total == 2 * (KEEP_DAYS - 1) + 5
    # The totals of thinned days are still right: each closes 4 above its opening.
    week = await pnl.report("week")
    assert [d.value for d in week.accounts[0].days][:-1] == [10] * 6


async def test_snapshot_housekeeping_runs_at_most_once_an_hour(db: Database) -> None:
    clock = ManualClock(LATE_MONDAY)
    paper = StubBroker("paper")
    pnl = service(db, clock, paper)

    async def old_day(days_ago: int) -> None:
        async with db.transaction() as tx:
            for minute in range(3):
                moment = clock.now() - timedelta(days=days_ago, minutes=minute)
                await PnlRepository().insert(
                    tx, Snapshot("paper", moment, {}), pnl.day_of(moment).isoformat()
                )

    await old_day(5)
    await pnl.snapshot()  # the first snapshot housekeeps
    assert len(await rows(db)) == 2 + 1
    await old_day(4)
    clock.advance(60)
    await pnl.snapshot()
    assert len(await rows(db)) == 2 + 3 + 2  # not again within the hour
    clock.advance(3600)
    await pnl.snapshot()
    assert len(await rows(db)) == 2 + 2 + 3


async def test_unknown_account_and_period_are_user_errors(db: Database) -> None:
    pnl = service(db, ManualClock(LATE_MONDAY), StubBroker("paper"))
    with pytest.raises(UserError, match="no account"):
        await pnl.day_pnl("nope")
    with pytest.raises(UserError, match="period"):
        await pnl.report("month")
    assert (await pnl.report("today", "paper")).accounts[0].currency == ""
