"""The market calendar: sessions, weekends, holidays, time zones and updated calendar files."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.domain.errors import ConfigError
from core.domain.market_calendar import MarketCalendar, UnknownExchange

IST = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
CAL = MarketCalendar.bundled()


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)  # type: ignore[misc]


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)  # type: ignore[misc]


@pytest.mark.parametrize("exchange", ["NSE", "BSE", "NFO", "BFO"])
def test_indian_equity_sessions_run_0915_to_1530_ist(exchange: str) -> None:
    monday = date(2026, 1, 5)
    assert CAL.session(exchange, monday) == (ist(2026, 1, 5, 9, 15), ist(2026, 1, 5, 15, 30))
    assert not CAL.is_open(exchange, ist(2026, 1, 5, 9, 14, 59))
    assert CAL.is_open(exchange, ist(2026, 1, 5, 9, 15))
    assert CAL.is_open(exchange, ist(2026, 1, 5, 15, 29, 59))
    assert not CAL.is_open(exchange, ist(2026, 1, 5, 15, 30))  # the close is exclusive


def test_is_open_takes_any_time_zone_and_refuses_a_naive_time() -> None:
    assert CAL.is_open("NSE", datetime(2026, 1, 5, 4, 0, tzinfo=UTC))  # 09:30 IST
    assert not CAL.is_open("NSE", datetime(2026, 1, 5, 10, 0, tzinfo=UTC))  # 15:30 IST
    with pytest.raises(ValueError, match="time zone"):
        CAL.is_open("NSE", datetime(2026, 1, 5, 10, 0))


@pytest.mark.parametrize("exchange", ["NSE", "BSE", "NFO", "MCX", "NYSE", "NASDAQ"])
def test_weekends_have_no_session(exchange: str) -> None:
    for day in (date(2026, 1, 3), date(2026, 1, 4)):
        assert not CAL.is_trading_day(exchange, day)
        assert CAL.session(exchange, day) is None
    assert CAL.is_trading_day(exchange, date(2026, 1, 2))


@pytest.mark.parametrize(
    ("exchange", "holiday"),
    [
        ("NSE", date(2025, 3, 14)),  # Holi
        ("BSE", date(2025, 10, 2)),  # Gandhi Jayanti
        ("NFO", date(2026, 1, 26)),  # Republic Day
        ("BFO", date(2026, 4, 3)),  # Good Friday
        ("MCX", date(2025, 12, 25)),  # Christmas: both sessions closed
        ("NYSE", date(2025, 7, 4)),  # Independence Day
        ("NASDAQ", date(2026, 11, 26)),  # Thanksgiving
        ("NYSE", date(2027, 12, 24)),  # Christmas observed on the Friday
    ],
)
def test_a_published_holiday_has_no_session(exchange: str, holiday: date) -> None:
    assert not CAL.is_trading_day(exchange, holiday)
    zone = CAL.timezone(exchange)
    assert not CAL.is_open(exchange, datetime.combine(holiday, time(12), zone))


def test_the_budget_sunday_and_muhurat_are_special_sessions() -> None:
    assert CAL.session("NSE", date(2026, 2, 1)) == (ist(2026, 2, 1, 9, 15), ist(2026, 2, 1, 15, 30))
    assert CAL.session("BSE", date(2025, 10, 21)) == (
        ist(2025, 10, 21, 13, 45),
        ist(2025, 10, 21, 14, 45),
    )


def test_mcx_evening_only_days_and_its_close_that_follows_us_daylight_saving() -> None:
    assert CAL.session("MCX", date(2026, 3, 3)) == (ist(2026, 3, 3, 17, 0), ist(2026, 3, 3, 23, 55))
    assert CAL.session("MCX", date(2026, 1, 1)) == (ist(2026, 1, 1, 9, 0), ist(2026, 1, 1, 17, 0))
    # US daylight saving time (from 8 March 2026): MCX closes at 23:30; outside it at 23:55.
    assert CAL.session("MCX", date(2026, 3, 6)) == (ist(2026, 3, 6, 9, 0), ist(2026, 3, 6, 23, 55))
    assert CAL.session("MCX", date(2026, 3, 9)) == (ist(2026, 3, 9, 9, 0), ist(2026, 3, 9, 23, 30))
    assert CAL.is_open("MCX", ist(2026, 6, 5, 23, 29))
    assert not CAL.is_open("MCX", ist(2026, 6, 5, 23, 40))


def test_new_york_sessions_are_0930_to_1600_local_on_both_sides_of_dst() -> None:
    winter = CAL.session("NYSE", date(2026, 3, 6))  # EST, UTC-5
    summer = CAL.session("NYSE", date(2026, 3, 9))  # EDT, UTC-4, the day after the switch
    assert winter is not None and summer is not None
    assert winter[0].astimezone(UTC) == datetime(2026, 3, 6, 14, 30, tzinfo=UTC)
    assert summer[0].astimezone(UTC) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    assert CAL.is_open("NASDAQ", datetime(2026, 3, 9, 13, 45, tzinfo=UTC))
    assert not CAL.is_open("NASDAQ", datetime(2026, 3, 6, 14, 15, tzinfo=UTC))
    # In IST the opening moves from 20:00 to 19:00.
    assert winter[0].astimezone(IST).hour == 20 and summer[0].astimezone(IST).hour == 19


def test_an_nyse_early_close_ends_at_1300() -> None:
    session = CAL.session("NYSE", date(2025, 11, 28))  # the day after Thanksgiving
    assert session == (ny(2025, 11, 28, 9, 30), ny(2025, 11, 28, 13))
    assert not CAL.is_open("NYSE", ny(2025, 11, 28, 13, 30))


def test_next_open_skips_weekends_and_holidays() -> None:
    # Friday 13 March 2026 after the close -> weekend -> Monday 16th.
    assert CAL.next_open("NSE", ist(2026, 3, 13, 16)) == ist(2026, 3, 16, 9, 15)
    # Easter: Good Friday 3 April 2026 is a holiday on NYSE.
    assert CAL.next_open("NYSE", ny(2026, 4, 2, 17)) == ny(2026, 4, 6, 9, 30)
    # Before the open on a trading day, and while open (the moment itself).
    assert CAL.next_open("NSE", ist(2026, 1, 5, 8)) == ist(2026, 1, 5, 9, 15)
    assert CAL.next_open("NSE", ist(2026, 1, 5, 10)) == ist(2026, 1, 5, 10)


def test_an_unknown_exchange_is_an_error_not_always_open() -> None:
    for call in (
        lambda: CAL.is_open("LSE", datetime(2026, 1, 5, 12, tzinfo=UTC)),
        lambda: CAL.is_trading_day("LSE", date(2026, 1, 5)),
        lambda: CAL.timezone("LSE"),
    ):
        with pytest.raises(UnknownExchange, match="no market calendar for exchange LSE"):
            call()


def test_every_bundled_holiday_falls_on_a_weekday() -> None:
    for exchange in CAL.exchanges:
        hours = CAL.hours(exchange)
        assert all(day.weekday() < 5 for day in hours.holidays), exchange


UPDATE = """
[exchanges.NSE]
holidays = [2026-01-05]           # an announced closure
not_holidays = [2026-03-03]       # a holiday moved away

[exchanges.NSE.special_sessions]
2026-11-08 = ["18:00", "19:00"]   # Muhurat on a Sunday

[exchanges.LSE]
timezone = "Europe/London"
open = "08:00"
close = "16:30"
"""


def test_an_updated_file_extends_the_bundled_calendar(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(UPDATE)
    cal = MarketCalendar.load(path)
    assert not cal.is_trading_day("NSE", date(2026, 1, 5))
    assert not cal.is_trading_day("BSE", date(2026, 1, 5))  # BSE shares NSE's holidays
    assert cal.is_trading_day("NSE", date(2026, 3, 3))
    assert cal.session("NSE", date(2026, 11, 8)) == (ist(2026, 11, 8, 18), ist(2026, 11, 8, 19))
    assert not cal.is_trading_day("NSE", date(2026, 1, 26))  # bundled holidays stay
    assert cal.is_open("LSE", datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert CAL.is_trading_day("NSE", date(2026, 1, 5))  # the bundled one is unchanged


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[exchanges.NSE]\nholidays = [2026-13-01]", "not valid TOML"),
        ('[exchanges.NSE]\nopen = "9.15"', "exchanges.NSE.open"),
        ('[exchanges.NSE]\ntimezone = "Asia/Mumbai"', "not a time zone"),
        ("[exchanges.NSE]\nholliday = []", "holliday is not a calendar key"),
        ('[exchanges.LSE]\ntimezone = "Europe/London"', "exchanges.LSE needs open"),
        ('[exchanges.NSE.special_sessions]\n2026-01-04 = ["15:00", "09:00"]', "not before close"),
        ("title = 'no exchanges'", "no [exchanges.<NAME>] tables"),
    ],
)
def test_a_wrong_calendar_file_names_the_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        MarketCalendar.load(path)
    assert str(path) in str(caught.value)


def test_a_missing_calendar_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the calendar file"):
        MarketCalendar.load(tmp_path / "nope.toml")
