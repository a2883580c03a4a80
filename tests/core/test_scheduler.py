"""The scheduler: fire times in exchange zones (DST included), grace for missed runs, no overlap,
failures alerted and rescheduled. Time moves on a ManualClock; nothing waits for real minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.config import ScheduleConfig
from core.daily_jobs import DailyJobs, build_jobs
from core.domain.alerts import Event, EventKind
from core.domain.clock import ManualClock
from core.domain.errors import ConfigError
from core.scheduler import Job, JobStatus, Scheduler, daily, every

IST = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY_1514_IST = datetime(2026, 1, 5, 9, 44, tzinfo=UTC)


class Calls:
    """A job action that records the fire times it ran for."""

    def __init__(self, fail_first: int = 0, gate: asyncio.Event | None = None) -> None:
        self.fires: list[datetime] = []
        self.fail_first = fail_first
        self.gate = gate

    async def __call__(self, fire: datetime) -> str:
        self.fires.append(fire)
        if self.gate is not None:
            await self.gate.wait()
        if len(self.fires) <= self.fail_first:
            raise RuntimeError("the broker is down")
        return f"ran for {fire:%H:%M}"


@asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[Scheduler]:
    task = asyncio.create_task(scheduler.run())
    try:
        yield scheduler
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(check: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Give the runner and its jobs turns of the loop until ``check`` holds (bounded)."""
    for _ in range(int(timeout_s / 0.002)):
        if check():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("the scheduler did not get there in time")


async def advance(clock: ManualClock, scheduler: Scheduler, seconds: float) -> None:
    """Move time, let the runner look at the clock, and give started jobs a moment to run."""
    clock.advance(seconds)
    scheduler.wake()
    await asyncio.sleep(0.02)


def status(scheduler: Scheduler, name: str) -> JobStatus:
    [found] = [job for job in scheduler.jobs() if job.name == name]
    return found


def test_square_off_at_1515_india_is_0945_utc_on_weekdays_only() -> None:
    trigger = daily("15:15", IST)
    friday_evening = datetime(2026, 1, 9, 12, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, MONDAY_1514_IST) == datetime(
        2026, 1, 5, 9, 45, tzinfo=UTC
    )
    assert trigger.get_next_fire_time(None, friday_evening) == datetime(
        2026, 1, 12, 9, 45, tzinfo=UTC
    )


def test_new_york_times_follow_daylight_saving_time() -> None:
    trigger = daily("15:50", NEW_YORK)
    friday_before = trigger.get_next_fire_time(None, datetime(2026, 3, 6, 12, 0, tzinfo=UTC))
    monday_after = trigger.get_next_fire_time(None, datetime(2026, 3, 7, 0, 0, tzinfo=UTC))
    assert friday_before == datetime(2026, 3, 6, 20, 50, tzinfo=UTC)  # EST, UTC-5
    assert monday_after == datetime(2026, 3, 9, 19, 50, tzinfo=UTC)  # EDT from 8 March, UTC-4
    november = trigger.get_next_fire_time(None, datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    assert november == datetime(2026, 11, 2, 20, 50, tzinfo=UTC)  # back to EST on 1 November


async def test_a_job_runs_when_the_clock_passes_its_time_and_is_listed() -> None:
    clock = ManualClock(MONDAY_1514_IST)
    calls = Calls()
    scheduler = Scheduler(clock, max_sleep_s=0.01)
    scheduler.add(Job("square-off:NSE", daily("15:15", IST), calls, 300, schedule="15:15 IST"))
    [listed] = scheduler.jobs()
    assert listed == JobStatus(
        "square-off:NSE",
        "15:15 IST",
        datetime(2026, 1, 5, 9, 45, tzinfo=UTC),
        None,
        "not run yet",
        False,
    )
    async with running(scheduler):
        await advance(clock, scheduler, 30)
        assert calls.fires == []
        await advance(clock, scheduler, 45)
        await until(lambda: status(scheduler, "square-off:NSE").last_outcome == "ran for 15:15")
    assert calls.fires == [datetime(2026, 1, 5, 15, 15, tzinfo=IST)]
    listed = status(scheduler, "square-off:NSE")
    assert listed.last_run == MONDAY_1514_IST + timedelta(seconds=75)
    assert listed.next_run == datetime(2026, 1, 6, 9, 45, tzinfo=UTC)


async def test_a_day_the_filter_refuses_is_not_a_fire_time() -> None:
    republic_day = date(2026, 1, 26)  # a Monday
    clock = ManualClock(datetime(2026, 1, 23, 12, 0, tzinfo=UTC))  # Friday, after the close
    scheduler = Scheduler(clock)
    scheduler.add(
        Job(
            "square-off:NSE",
            daily("15:15", IST),
            Calls(),
            300,
            runs_on=lambda fire: fire.astimezone(IST).date() != republic_day,
        )
    )
    assert status(scheduler, "square-off:NSE").next_run == datetime(2026, 1, 27, 9, 45, tzinfo=UTC)


async def test_a_run_missed_while_down_runs_at_start_within_its_grace() -> None:
    clock = ManualClock(MONDAY_1514_IST + timedelta(minutes=4))  # 15:18, three minutes late
    calls = Calls()
    scheduler = Scheduler(clock, max_sleep_s=0.01)
    scheduler.add(Job("square-off:NSE", daily("15:15", IST), calls, 300))
    async with running(scheduler):
        await until(lambda: len(calls.fires) == 1)
        await advance(clock, scheduler, 60)
    assert calls.fires == [datetime(2026, 1, 5, 15, 15, tzinfo=IST)]


async def test_a_run_missed_by_more_than_its_grace_is_skipped_and_said() -> None:
    clock = ManualClock(MONDAY_1514_IST)
    calls = Calls()
    scheduler = Scheduler(clock, max_sleep_s=0.01)
    scheduler.add(Job("square-off:NSE", daily("15:15", IST), calls, 300))
    async with running(scheduler):
        await advance(clock, scheduler, 10 * 60)  # the machine slept through 15:15
        await until(lambda: "skipped" in status(scheduler, "square-off:NSE").last_outcome)
    assert calls.fires == []
    listed = status(scheduler, "square-off:NSE")
    assert "2026-01-05 15:15 IST" in listed.last_outcome and "5 min" in listed.last_outcome
    assert listed.next_run == datetime(2026, 1, 6, 9, 45, tzinfo=UTC)


async def test_missed_interval_runs_coalesce_into_one() -> None:
    clock = ManualClock(MONDAY_1514_IST)
    calls = Calls()
    scheduler = Scheduler(clock, max_sleep_s=0.01)
    scheduler.add(Job("pnl", every(60, clock.now() + timedelta(seconds=60)), calls, 60))
    async with running(scheduler):
        await advance(clock, scheduler, 10 * 60 + 5)
        await until(lambda: len(calls.fires) == 1)
        await advance(clock, scheduler, 1)
    assert calls.fires == [MONDAY_1514_IST + timedelta(minutes=10)]


async def test_a_job_never_overlaps_itself() -> None:
    clock = ManualClock(MONDAY_1514_IST)
    gate = asyncio.Event()
    calls = Calls(gate=gate)
    scheduler = Scheduler(clock, max_sleep_s=0.01)
    scheduler.add(Job("slow", every(60, clock.now() + timedelta(seconds=60)), calls, 60))
    async with running(scheduler):
        await advance(clock, scheduler, 60)
        await until(lambda: status(scheduler, "slow").running)
        await advance(clock, scheduler, 60)  # due again while the first run still works
        await advance(clock, scheduler, 60)
        assert len(calls.fires) == 1
        gate.set()
        await until(lambda: not status(scheduler, "slow").running)
        await advance(clock, scheduler, 60)
        await until(lambda: len(calls.fires) == 2)


async def test_a_failing_job_is_alerted_once_and_runs_again_at_its_next_time() -> None:
    clock = ManualClock(MONDAY_1514_IST)
    alerts: list[Event] = []

    async def alert(event: Event) -> None:
        alerts.append(event)

    calls = Calls(fail_first=2)
    scheduler = Scheduler(clock, alert=alert, max_sleep_s=0.01)
    scheduler.add(Job("refresh", every(600, clock.now() + timedelta(seconds=600)), calls, 60))
    async with running(scheduler):
        await advance(clock, scheduler, 600)
        await until(lambda: status(scheduler, "refresh").last_outcome.startswith("failed"))
        assert status(scheduler, "refresh").last_outcome == "failed: the broker is down"
        await advance(clock, scheduler, 600)  # fails again, ten minutes later: no new alert
        await until(lambda: len(calls.fires) == 2 and not status(scheduler, "refresh").running)
        await advance(clock, scheduler, 600)
        await until(lambda: status(scheduler, "refresh").last_outcome.startswith("ran"))
    assert [a.kind for a in alerts] == [EventKind.JOB_FAILED]
    assert "refresh failed: the broker is down; next run" in alerts[0].data["message"]


def test_schedule_config_builds_one_job_per_switched_on_entry() -> None:
    schedule = ScheduleConfig(
        square_off={"NSE": "15:15", "NYSE": "15:50", "MCX": ""},
        login_reminder="08:45",
        eod_report="",
        instrument_refresh="08:30",
    )
    jobs = DailyJobs(None, None, None, None, None)  # type: ignore[arg-type]  # never run here
    built = build_jobs(schedule, jobs, ManualClock(MONDAY_1514_IST))
    assert [job.name for job in built] == [
        "square-off:NSE",
        "square-off:NYSE",
        "instrument-refresh",
        "login-reminder",
    ]
    scheduler = Scheduler(ManualClock(MONDAY_1514_IST))
    for job in built:
        scheduler.add(job)
    assert status(scheduler, "square-off:NYSE").next_run == datetime(2026, 1, 5, 20, 50, tzinfo=UTC)
    assert status(scheduler, "login-reminder").next_run == datetime(2026, 1, 6, 3, 15, tzinfo=UTC)


def test_an_exchange_with_a_calendar_zone_or_none_at_all() -> None:
    jobs = DailyJobs(None, None, None, None, None)  # type: ignore[arg-type]
    schedule = ScheduleConfig(square_off={"LSE": "16:20"})
    [job, *_] = build_jobs(
        schedule, jobs, ManualClock(MONDAY_1514_IST), exchange_zone=lambda _: "Europe/London"
    )
    fire = job.trigger.get_next_fire_time(None, MONDAY_1514_IST)
    assert fire == datetime(2026, 1, 5, 16, 20, tzinfo=UTC)
    with pytest.raises(ConfigError, match="'LSE'"):
        build_jobs(schedule, jobs, ManualClock(MONDAY_1514_IST))
