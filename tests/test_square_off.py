"""The intraday square-off through the whole service (paper broker, SQLite, core), on a clock the
test moves: at its time on a trading day MIS positions are closed, and nothing else is."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

from bot.app import Service
from bot.handlers import handle_button, handle_text
from brokers.paper import PaperBroker
from core.config import AppConfig, ScheduleConfig
from core.daily_jobs import DailyJobs, build_scheduler
from core.domain.clock import ManualClock
from core.domain.models import InstrumentId, OrderPurpose, Product
from core.scheduler import Scheduler
from tests.support import AlertLog, paper_config, running_service
from tests.test_flows import OWNER, confirm_data

MONDAY_1514_IST = datetime(2026, 1, 5, 9, 44, tzinfo=UTC)
SATURDAY_1514_IST = datetime(2026, 1, 10, 9, 44, tzinfo=UTC)
REPUBLIC_DAY_1514_IST = datetime(2026, 1, 26, 9, 44, tzinfo=UTC)  # a Monday, NSE closed
INFY = InstrumentId("NSE", "INFY")
TCS = InstrumentId("NSE", "TCS")
RELIANCE = InstrumentId("NSE", "RELIANCE")


def square_off_only(tmp_path: Path) -> AppConfig:
    config = paper_config(tmp_path, risk={"price_band_pct": 0})
    schedule = ScheduleConfig(
        square_off={"NSE": "15:15"}, login_reminder="", eod_report="", instrument_refresh=""
    )
    return config.model_copy(update={"schedule": schedule})


async def confirm(service: Service, line: str) -> None:
    [ticket] = await handle_text(service.desk, OWNER, line)
    assert ticket.buttons, ticket.html
    await handle_button(service.desk, OWNER, confirm_data(ticket))


async def open_day(service: Service, alerts: AlertLog) -> None:
    """Long 10 INFY and short 3 TCS intraday, long 5 RELIANCE for delivery."""
    await confirm(service, "/buy INFY 10 product=MIS")
    await confirm(service, "/sell TCS 3 product=MIS")
    await confirm(service, "/buy RELIANCE 5 product=CNC")
    await alerts.wait_for("order_filled", 3)


async def held(service: Service) -> dict[tuple[InstrumentId, Product], int]:
    positions = await service.registry.get("paper").fetch_positions()
    return {(p.instrument, p.product): p.quantity for p in positions}


async def exits(service: Service) -> list[str]:
    return [
        f"{o.request.side.value} {o.request.quantity} {o.instrument}"
        for o in await service.tracker.recent()
        if o.purpose is OrderPurpose.EXIT
    ]


async def move(clock: ManualClock, scheduler: Scheduler, seconds: float) -> None:
    clock.advance(seconds)
    scheduler.wake()
    await asyncio.sleep(0.1)  # the runner looks at the clock; a job it starts gets going


async def test_at_1515_on_a_trading_day_only_the_mis_positions_are_closed(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_1514_IST)
    alerts = AlertLog()
    async with running_service(square_off_only(tmp_path), clock=clock, alerts=alerts) as service:
        await open_day(service, alerts)
        await confirm(service, "/buy SBIN 1 @100 product=MIS")  # far below: stays working
        await confirm(service, "/buy HDFCBANK 1 @100 product=CNC")
        await move(clock, service.scheduler, 30)  # 15:14:30
        assert await exits(service) == []
        assert "square_off" not in alerts.kinds()

        await move(clock, service.scheduler, 60)  # 15:15:30
        [summary] = await alerts.wait_for("square_off")
        await alerts.wait_for("order_filled", 5)
        assert sorted(await exits(service)) == ["BUY 3 NSE:TCS", "SELL 10 NSE:INFY"]
        assert await held(service) == {
            (INFY, Product.MIS): 0,
            (TCS, Product.MIS): 0,
            (RELIANCE, Product.CNC): 5,
        }
        message = summary.data["message"]
        assert summary.account == "paper" and summary.data["closed"] == "2"
        assert "NSE:INFY +10: SELL 10 at market" in message
        assert "NSE:TCS -3: BUY 3 at market" in message
        assert "RELIANCE" not in message and "NOT closed" not in message
        # The working intraday entry was cancelled; the delivery one still works.
        assert "cancelled 1 working intraday order(s)" in message
        assert "BUY 1 NSE:SBIN" in message and "HDFCBANK" not in message
        working = await service.registry.get("paper").fetch_open_orders()
        assert [(o.instrument.symbol, o.product) for o in working] == [("HDFCBANK", Product.CNC)]
        [job] = [j for j in service.scheduler.jobs() if j.name == "square-off:NSE"]
        assert job.last_outcome == "NSE: closed 2 intraday position(s), 0 not closed"
        assert job.next_run == datetime(2026, 1, 6, 9, 45, tzinfo=UTC)

        await move(clock, service.scheduler, 120)
        assert alerts.kinds().count("square_off") == 1


async def test_nothing_is_squared_off_on_a_saturday(tmp_path: Path) -> None:
    clock = ManualClock(SATURDAY_1514_IST)
    alerts = AlertLog()
    async with running_service(square_off_only(tmp_path), clock=clock, alerts=alerts) as service:
        await open_day(service, alerts)
        await move(clock, service.scheduler, 120)
        assert await exits(service) == []
        assert (await held(service))[(INFY, Product.MIS)] == 10
        [job] = [j for j in service.scheduler.jobs() if j.name == "square-off:NSE"]
        assert job.next_run == datetime(2026, 1, 12, 9, 45, tzinfo=UTC)  # Monday
        assert "square_off" not in alerts.kinds()


async def test_the_service_skips_a_holiday_of_its_bundled_calendar(tmp_path: Path) -> None:
    clock = ManualClock(REPUBLIC_DAY_1514_IST)
    alerts = AlertLog()
    async with running_service(square_off_only(tmp_path), clock=clock, alerts=alerts) as service:
        await open_day(service, alerts)
        await move(clock, service.scheduler, 120)
        assert await exits(service) == []
        [job] = [j for j in service.scheduler.jobs() if j.name == "square-off:NSE"]
        assert job.next_run == datetime(2026, 1, 27, 9, 45, tzinfo=UTC)  # the day after


async def test_nothing_is_squared_off_on_an_exchange_holiday(tmp_path: Path) -> None:
    clock = ManualClock(REPUBLIC_DAY_1514_IST)
    alerts = AlertLog()
    config = square_off_only(tmp_path)
    async with running_service(config, clock=clock, alerts=alerts) as service:
        await open_day(service, alerts)
        jobs = DailyJobs(
            service.registry,
            service.execution,
            service.tracker,
            service.gate,
            service.alerts,
            is_trading_day=lambda exchange, day: (exchange, day) != ("NSE", date(2026, 1, 26)),
        )
        scheduler = build_scheduler(config.schedule, jobs, clock, max_sleep_s=0.01)
        task = asyncio.create_task(scheduler.run())
        try:
            await move(clock, scheduler, 120)
            assert await exits(service) == []
            [job] = scheduler.jobs()
            assert job.next_run == datetime(2026, 1, 27, 9, 45, tzinfo=UTC)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert "square_off" not in alerts.kinds()


async def test_an_exit_the_broker_rejects_is_reported_as_not_closed(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_1514_IST)
    alerts = AlertLog()
    async with running_service(square_off_only(tmp_path), clock=clock, alerts=alerts) as service:
        await open_day(service, alerts)
        broker = service.registry.get("paper")
        assert isinstance(broker, PaperBroker)
        broker.faults.reject_next(1)
        await move(clock, service.scheduler, 90)
        [summary] = await alerts.wait_for("square_off")
        assert summary.data["closed"] == "1" and summary.data["not_closed"] == "1"
        message = summary.data["message"]
        assert "NOT closed 1 — act now:" in message
        assert "at market rejected: RMS: simulated rejection" in message
        positions = await held(service)
        assert sorted([positions[(INFY, Product.MIS)], positions[(TCS, Product.MIS)]]) in (
            [0, 10],
            [-3, 0],
        )


async def test_the_day_report_counts_todays_orders_and_shows_positions_and_pnl(
    tmp_path: Path,
) -> None:
    clock = ManualClock(MONDAY_1514_IST)
    alerts = AlertLog()
    schedule = ScheduleConfig(
        square_off={}, login_reminder="", eod_report="15:45", instrument_refresh=""
    )
    config = paper_config(tmp_path).model_copy(update={"schedule": schedule})
    async with running_service(config, clock=clock, alerts=alerts) as service:
        await open_day(service, alerts)
        await confirm(service, "/buy INFY 5 @1450 product=MIS")  # below the market: stays open
        await move(clock, service.scheduler, 31 * 60)  # 15:45
        [report] = await alerts.wait_for("daily_report")
        assert report.account == "paper"
        assert report.data["day"] == "2026-01-05"
        assert report.data["orders"] == "4" and report.data["open_positions"] == "3"
        assert "realised_INR" in report.data and "unrealised_INR" in report.data
        message = report.data["message"]
        assert "4 order(s) today: 1 open, 3 filled" in message
        assert "NSE:INFY +10 MIS" in message and "NSE:RELIANCE +5 CNC" in message
        assert "P&L INR: realised" in message
