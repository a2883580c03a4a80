"""The day's jobs against a Kite account on the fake Kite server: the morning login reminder and
the instrument-master refresh, on a clock the test moves."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import Service, telegram_service
from brokers.zerodha.broker import ZerodhaBroker
from core.config import AppConfig
from core.domain.clock import ManualClock
from core.domain.errors import BrokerError
from core.domain.models import InstrumentId
from core.orders.sync import SyncSettings
from tests.brokers.zerodha.kite_support import settings_for
from tests.brokers.zerodha.test_service import kite_config as service_config
from tests.brokers.zerodha.test_service import kite_fakes
from tests.core.test_scheduler import until
from tests.fakes.kite import FakeKite
from tests.fakes.kite_ticker import FakeKiteTicker
from tests.fakes.telegram import FakeTelegram
from tests.support import FAST_EXITS, AlertLog, running_service
from tests.test_telegram import OWNER, TOKEN

MONDAY_0829_IST = datetime(2026, 1, 5, 2, 59, tzinfo=UTC)
SYNC = SyncSettings(poll_interval_s=0.1, session_check_s=0.2)
MORNING = {"square_off": {}, "login_reminder": "08:45", "eod_report": "", "instrument_refresh": ""}


def kite_config(
    tmp_path: Path,
    rest: FakeKite,
    ticker: FakeKiteTicker,
    schedule: dict[str, Any],
    *,
    logged_in: bool = True,
    telegram: dict[str, str] | None = None,
) -> AppConfig:
    environ = {"POCKETDESK_SCHEDULE": json.dumps(schedule)}
    for key, value in (telegram or {}).items():
        environ[f"POCKETDESK_TELEGRAM__{key.upper()}"] = value
    extra: dict[str, Any] = {} if logged_in else {"access_token": None}
    return service_config(tmp_path, rest, ticker, environ=environ, **extra)


async def move(clock: ManualClock, service: Service, seconds: float) -> None:
    clock.advance(seconds)
    service.scheduler.wake()
    await asyncio.sleep(0.1)


def outcome(service: Service, name: str) -> str:
    [job] = [j for j in service.scheduler.jobs() if j.name == name]
    return job.last_outcome


async def test_an_account_without_a_session_gets_a_login_reminder_at_0845(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_0829_IST)
    alerts = AlertLog()
    async with kite_fakes() as (rest, ticker):
        config = kite_config(tmp_path, rest, ticker, MORNING, logged_in=False)
        async with running_service(config, clock=clock, alerts=alerts, sync=SYNC) as service:
            await alerts.wait_for("token_expired")
            await move(clock, service, 15 * 60)  # 08:44
            assert "login_reminder" not in alerts.kinds()
            await move(clock, service, 2 * 60)  # 08:46
            [reminder] = await alerts.wait_for("login_reminder")
            assert reminder.account == "kite"
            assert "kite is not logged in" in reminder.data["message"]
            assert "/login kite" in reminder.data["message"]
            assert outcome(service, "login-reminder") == "reminded kite"


async def test_a_live_session_gets_no_reminder(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_0829_IST)
    alerts = AlertLog()
    async with kite_fakes() as (rest, ticker):
        config = kite_config(tmp_path, rest, ticker, MORNING)
        async with running_service(config, clock=clock, alerts=alerts, sync=SYNC) as service:
            assert service.gate.is_open("kite")
            await move(clock, service, 17 * 60)
            await until(lambda: outcome(service, "login-reminder") != "not run yet")
            assert outcome(service, "login-reminder") == "every login is live"
            assert "login_reminder" not in alerts.kinds()


async def test_the_reminder_reaches_telegram_with_the_login_button(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_0829_IST)
    async with kite_fakes() as (rest, ticker), FakeTelegram(TOKEN) as telegram:
        chat = {"token": TOKEN, "api_url": telegram.api_url, "owners": str(OWNER)}
        config = kite_config(tmp_path, rest, ticker, MORNING, logged_in=False, telegram=chat)
        async with telegram_service(
            config,
            clock=clock,
            sync_settings=SYNC,
            exit_settings=FAST_EXITS,
            pace_s=0,
            poll_timeout_s=1,
        ) as (service, _front):
            await telegram.wait_for("sendMessage", lambda c: "reply_markup" in c.params)
            await move(clock, service, 17 * 60)
            [alert] = await telegram.wait_for(
                "sendMessage", lambda c: "Login reminder" in c.params.get("text", "")
            )
            assert "/login kite" in alert.params["text"]
            buttons = await telegram.wait_for(
                "sendMessage", lambda c: "reply_markup" in c.params, count=2
            )
            [[button]] = buttons[-1].params["reply_markup"]["inline_keyboard"]
            assert button["url"].startswith("https://kite.zerodha.com/connect/login")


async def test_refreshing_instruments_downloads_the_dump_again(fake: FakeKite) -> None:
    broker = ZerodhaBroker("kite", settings_for(fake))
    try:
        await broker.connect()
        infy = InstrumentId("NSE", "INFY")
        await broker.fetch_instrument(infy)
        assert len(fake.of("GET", "/instruments")) == 1
        count = await broker.refresh_instruments()
        assert count > 0 and len(fake.of("GET", "/instruments")) == 2
        fake.fail_next(503, "NetworkException", "Kite is down")
        with pytest.raises(BrokerError):
            await broker.refresh_instruments()
        await broker.fetch_instrument(infy)  # the dump in hand stays in use
        assert len(fake.of("GET", "/instruments")) == 3
    finally:
        await broker.close()


async def test_the_morning_refresh_job_downloads_the_dump(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_0829_IST)
    schedule = MORNING | {"login_reminder": "", "instrument_refresh": "08:30"}
    async with kite_fakes() as (rest, ticker):
        config = kite_config(tmp_path, rest, ticker, schedule)
        async with running_service(config, clock=clock, sync=SYNC) as service:
            before = len(rest.of("GET", "/instruments"))
            await move(clock, service, 90)
            await until(lambda: outcome(service, "instrument-refresh").startswith("refreshed"))
            assert len(rest.of("GET", "/instruments")) == before + 1
            assert outcome(service, "instrument-refresh").startswith("refreshed kite ")
