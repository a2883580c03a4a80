"""Jobs at times of day in exchange time zones, run against the injected clock.

APScheduler's triggers do the calendar arithmetic (time zones, DST, days of the week), but its
schedulers read the system clock, which tests cannot move. So the runner here is our own: it asks
each trigger for its next fire time relative to ``Clock.now()``, sleeps a bounded while, looks at
the clock again and starts what is due. Advancing a ``ManualClock`` (then ``wake()``) fires jobs
at once; nothing ever waits for real minutes.

- A fire time that passed unseen (the process was down, the machine slept) still runs once if it
  is at most the job's grace period old; older ones are skipped and logged.
- A job never overlaps itself: a fire time that comes while it still runs is skipped.
- A failing job is logged and alerted (at most once an hour per job) and runs again at its next
  fire time; it never stops the runner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol, cast

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from core.domain.alerts import Event, EventKind
from core.domain.clock import Clock

log = logging.getLogger(__name__)

JobAction = Callable[[datetime], Awaitable[str]]
"""A job's work: it gets the fire time it runs for and returns a one-line outcome for /status."""

AlertHook = Callable[[Event], Awaitable[None]]

_TICK = timedelta(microseconds=1)
_MAX_SKIPPED_FIRES = 400  # more than a year of days refused by a job's day filter
_FAILURE_ALERT_EVERY = timedelta(hours=1)


class Trigger(Protocol):
    """APScheduler 3's trigger interface (``CronTrigger``, ``IntervalTrigger``)."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None: ...


def daily(at: str, zone: tzinfo, days: str = "mon-fri") -> Trigger:
    """Fire at ``HH:MM`` in ``zone`` on ``days`` (cron day-of-week syntax), DST included."""
    hour, _, minute = at.partition(":")
    trigger = CronTrigger(hour=int(hour), minute=int(minute), day_of_week=days, timezone=zone)
    return cast(Trigger, trigger)


def every(seconds: float, first: datetime) -> Trigger:
    """Fire every ``seconds``, first at ``first`` (given, so the wall clock is never read)."""
    return cast(Trigger, IntervalTrigger(seconds=seconds, start_date=first))


@dataclass(frozen=True, slots=True)
class Job:
    """What to run and when.

    ``runs_on`` (a trading-day check, say) is asked about each fire time; a refused one is not a
    fire time at all, so ``jobs()`` shows the real next run. ``schedule`` describes the timing
    in words for /status.
    """

    name: str
    trigger: Trigger
    action: JobAction
    grace_s: float = 60.0
    runs_on: Callable[[datetime], bool] | None = None
    schedule: str = ""


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One line of /status: when a job runs next, when it last ran and how that went."""

    name: str
    schedule: str
    next_run: datetime | None
    last_run: datetime | None
    last_outcome: str
    running: bool


@dataclass(slots=True)
class _Slot:
    job: Job
    next_run: datetime | None
    last_run: datetime | None = None
    last_outcome: str = "not run yet"
    task: asyncio.Task[None] | None = None
    alerted_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class Scheduler:
    """The job registry and its runner (``run``, a supervised task)."""

    def __init__(
        self, clock: Clock, *, alert: AlertHook | None = None, max_sleep_s: float = 1.0
    ) -> None:
        self.clock = clock
        self.alert = alert
        self.max_sleep_s = max_sleep_s
        self._slots: dict[str, _Slot] = {}
        self._wake = asyncio.Event()

    def add(self, job: Job) -> None:
        """Register a job. Its first fire time may lie up to its grace period in the past, so
        a start-up just after a missed time still runs it."""
        if job.name in self._slots:
            raise ValueError(f"job {job.name!r} is already scheduled")
        since = self.clock.now() - timedelta(seconds=job.grace_s)
        self._slots[job.name] = _Slot(job, _next_fire(job, since))
        self.wake()

    def jobs(self) -> list[JobStatus]:
        """Every job, in the order added, for /status."""
        return [
            JobStatus(
                name=slot.job.name,
                schedule=slot.job.schedule,
                next_run=slot.next_run,
                last_run=slot.last_run,
                last_outcome=slot.last_outcome,
                running=slot.running,
            )
            for slot in self._slots.values()
        ]

    def wake(self) -> None:
        """Look at the clock now instead of at the end of the current sleep."""
        self._wake.set()

    async def run(self) -> None:
        """Start due jobs until cancelled; cancelling also cancels the jobs still running."""
        try:
            while True:
                self.start_due()
                await self._sleep()
        finally:
            await self._cancel_running()

    def start_due(self) -> list[str]:
        """Start every job whose fire time has come; return the names started."""
        now = self.clock.now()
        started: list[str] = []
        for slot in self._slots.values():
            if slot.next_run is not None and slot.next_run <= now and self._fire(slot, now):
                started.append(slot.job.name)
        return started

    def _fire(self, slot: _Slot, now: datetime) -> bool:
        job, due = slot.job, slot.next_run
        assert due is not None
        # The latest fire time within the grace period, if any: missed ones coalesce into it.
        fire = _next_fire(job, max(due, now - timedelta(seconds=job.grace_s)))
        slot.next_run = _next_fire(job, now + _TICK)
        if fire is None or fire > now:
            slot.last_outcome = f"skipped the run of {due:%Y-%m-%d %H:%M %Z}: missed by more than"
            slot.last_outcome += f" {_duration(job.grace_s)}"
            log.warning("job %s: %s", job.name, slot.last_outcome)
            return False
        if slot.running:
            log.warning("job %s still runs; skipped its run of %s", job.name, fire.isoformat())
            return False
        slot.last_run = now
        slot.task = asyncio.get_running_loop().create_task(
            self._run_job(slot, fire), name=f"job:{job.name}"
        )
        return True

    async def _run_job(self, slot: _Slot, fire: datetime) -> None:
        name = slot.job.name
        log.info("job %s runs for %s", name, fire.isoformat())
        try:
            outcome = await slot.job.action(fire)
        except asyncio.CancelledError:
            slot.last_outcome = "cancelled"
            raise
        except Exception as exc:
            slot.last_outcome = f"failed: {_reason(exc)}"
            log.exception("job %s failed", name)
            await self._alert_failure(slot, exc)
            return
        slot.last_outcome = outcome
        log.info("job %s: %s", name, outcome)

    async def _alert_failure(self, slot: _Slot, exc: Exception) -> None:
        now = self.clock.now()
        if self.alert is None:
            return
        if slot.alerted_at is not None and now - slot.alerted_at < _FAILURE_ALERT_EVERY:
            return  # an interval job failing every minute is one alert an hour, not sixty
        slot.alerted_at = now
        when = "" if slot.next_run is None else f"; next run {slot.next_run:%Y-%m-%d %H:%M %Z}"
        message = f"{slot.job.name} failed: {_reason(exc)}{when}"
        try:
            await self.alert(Event(EventKind.JOB_FAILED, "", {"message": message}))
        except Exception:
            log.exception("could not alert the failure of job %s", slot.job.name)

    async def _sleep(self) -> None:
        now = self.clock.now()
        delay = self.max_sleep_s
        for slot in self._slots.values():
            if slot.next_run is not None:
                delay = min(delay, (slot.next_run - now).total_seconds())
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), max(delay, 0.001))
        except TimeoutError:
            pass

    async def _cancel_running(self) -> None:
        tasks = [slot.task for slot in self._slots.values() if slot.task and slot.running]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)


def _next_fire(job: Job, after: datetime) -> datetime | None:
    """The job's first fire time at or after ``after`` that its day filter accepts."""
    fire = job.trigger.get_next_fire_time(None, after)
    for _ in range(_MAX_SKIPPED_FIRES):
        if fire is None or job.runs_on is None or _accepts(job, fire):
            return fire
        fire = job.trigger.get_next_fire_time(None, fire + _TICK)
    log.error(
        "job %s: no accepted fire time in %d tries; not scheduled", job.name, _MAX_SKIPPED_FIRES
    )
    return None


def _accepts(job: Job, fire: datetime) -> bool:
    assert job.runs_on is not None
    try:
        return job.runs_on(fire)
    except Exception:
        # Better to run on a day that may be a holiday than to miss a square-off.
        log.exception("job %s: the day filter failed for %s; running", job.name, fire.isoformat())
        return True


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
