"""The sections of the safety rails and the trading day: ``[risk]``, ``[schedule]``, ``[login]``.

``core.config`` puts them into ``AppConfig`` and re-exports them; they are checked the same way
(unknown keys refused, every mistake named by its key path).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    """A ``[section]`` of the file: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskConfig(Section):
    """``[risk]``: pre-trade checks for every account; an account's ``risk`` table overrides keys.

    Amounts are in the account's currency; a limit of 0 (or an empty list) switches it off.

    - ``max_order_value`` / ``max_order_quantity``: one order's value (its price, or the last
      price, times the quantity) and its quantity.
    - ``price_band_pct``: a limit or trigger price further than this from the last price is a
      fat finger.
    - ``exchanges`` / ``symbols``: only these may be traded; ``blocked_symbols`` never may.
      Symbols are written ``RELIANCE`` (on any exchange) or ``NSE:RELIANCE``.
    - ``max_open_positions``: a new entry may not open more positions than this.
    - ``market_hours``: refuse orders while the exchange is closed (weekends, holidays, outside
      the session), by the bundled calendar (``core/domain/calendars/exchanges.toml``).
    - ``calendar_file``: a calendar file in the same format that extends the bundled one (new
      holidays, special sessions, another exchange); relative paths are from the cwd.
    - ``daily_loss_limit``: once the day's P&L (realised + unrealised) is this far below zero,
      new entries are refused and an alert goes out; exits stay allowed.
    """

    max_order_value: Decimal = Field(default=Decimal(1_000_000), ge=0)
    max_order_quantity: int = Field(default=100_000, ge=0)
    price_band_pct: Decimal = Field(default=Decimal(10), ge=0, le=100)
    exchanges: list[str] = Field(default_factory=list)
    symbols: list[str] = Field(default_factory=list)
    blocked_symbols: list[str] = Field(default_factory=list)
    max_open_positions: int = Field(default=50, ge=0)
    market_hours: bool = True
    calendar_file: str = ""
    daily_loss_limit: Decimal = Field(default=Decimal(0), ge=0)

    @field_validator("exchanges", "symbols", "blocked_symbols")
    @classmethod
    def _upper_codes(cls, value: list[str]) -> list[str]:
        codes = [item.strip().upper() for item in value]
        if any(not code for code in codes):
            raise ValueError('must not hold empty names; write e.g. ["NSE", "BSE"]')
        return codes

    def merged(self, overrides: Mapping[str, Any]) -> RiskConfig:
        """This configuration with an account's ``risk`` table applied (checked like it)."""
        return RiskConfig.model_validate({**self.model_dump(), **overrides})


_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _clock_time(value: str, allow_off: bool = True) -> str:
    value = value.strip()
    if (allow_off and value == "") or _HHMM.fullmatch(value):
        return value
    off = ', or "" to switch the job off' if allow_off else ""
    raise ValueError(f'{value!r} is not a time of day; write HH:MM, e.g. "15:15"{off}')


ClockTime = Annotated[str, AfterValidator(_clock_time)]


class ScheduleConfig(Section):
    """``[schedule]``: the jobs of a trading day. Times are ``HH:MM``; "" switches a job off.

    - ``square_off``: per exchange, when intraday (MIS) positions are closed, in that
      exchange's own time zone, on its trading days.
    - ``login_reminder``, ``eod_report``, ``instrument_refresh``: daily, in ``timezone``; the
      reminder goes out only for accounts whose broker login is missing or dead, the report and
      the refresh on weekdays.
    - ``pnl_snapshot_s``: how often each account's P&L is recorded for ``/pnl`` charts and the
      daily loss limit.
    """

    timezone: str = "Asia/Kolkata"
    square_off: dict[str, ClockTime] = Field(
        default_factory=lambda: {"NSE": "15:15", "BSE": "15:15", "NFO": "15:15", "MCX": "23:00"}
    )
    login_reminder: ClockTime = "08:45"
    eod_report: ClockTime = "15:45"
    instrument_refresh: ClockTime = "08:30"
    pnl_snapshot_s: float = Field(default=60.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'{value!r} is not a time zone name; write e.g. "Asia/Kolkata"'
            ) from None
        return value

    @field_validator("square_off")
    @classmethod
    def _exchange_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {exchange.strip().upper(): at for exchange, at in value.items()}


class LoginConfig(Section):
    """``[login]``: the optional redirect receiver that finishes broker logins by itself.

    Set ``redirect_listen`` (``host:port``; port 0 takes any free port, for tests) and
    register ``http://host:port/login`` (or the address a reverse proxy forwards there) as the
    app's redirect URL at the broker; after a login the browser lands there and pocketdesk
    completes the session, no pasting needed. Only links pocketdesk made (each carries a
    one-time state) can finish a login there; "" (the default) listens nowhere.
    """

    redirect_listen: str = ""
    redirect_path: str = "/login"

    @field_validator("redirect_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError('must be host:port, e.g. "127.0.0.1:8765"')
        return value

    @field_validator("redirect_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError('must start with /, e.g. "/login"')
        return value
