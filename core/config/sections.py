"""Every ``[section]`` of the configuration file, one model each.

``core.config.loader`` puts them into ``AppConfig``; each is checked the same way (unknown keys
refused, every mistake named by its key path).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from core.config.env import resolve_env_ref


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


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class StorageConfig(Section):
    """``[storage]``: where the SQLite database lives (relative paths are from the cwd).

    ``synchronous``: with "normal" a commit survives any crash of pocketdesk itself but the
    last commits may be lost if the machine loses power (start-up then adopts orders the
    broker has under pocketdesk's ids); "full" waits for the disk on every commit, which
    costs a few tenths of a millisecond on every order and exit.
    """

    path: str = "pocketdesk.db"
    synchronous: Literal["normal", "full"] = "normal"

    @field_validator("path")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('must not be empty; write e.g. path = "pocketdesk.db"')
        return value


def _user_ids(value: Any) -> Any:
    """Accept ``"1,2"`` or ``"[1, 2]"`` from an environment variable; TOML lists pass through."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("expected a list of user ids, e.g. [123456789, 987654321]") from None
    return [part.strip() for part in text.split(",") if part.strip()]


UserIds = Annotated[list[int], NoDecode]


class TelegramConfig(Section):
    """``[telegram]``: the bot token and who may use the bot (deny by default)."""

    token: SecretStr
    api_url: str = "https://api.telegram.org/bot"
    owners: UserIds
    viewers: UserIds = Field(default_factory=list)

    @field_validator("token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        # Never echo the value: a trailing newline from a secret file is stripped silently.
        stripped = resolve_env_ref(value.get_secret_value().strip()).strip()
        if not stripped:
            raise ValueError("must not be empty; paste the token @BotFather gave you")
        return SecretStr(stripped)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                'must start with http:// or https://, e.g. "https://api.telegram.org/bot"'
            )
        return value

    @field_validator("owners", "viewers", mode="before")
    @classmethod
    def _parse_ids(cls, value: Any) -> Any:
        return _user_ids(value)

    @field_validator("owners", "viewers")
    @classmethod
    def _positive_ids(cls, value: list[int]) -> list[int]:
        bad = [uid for uid in value if uid <= 0]
        if bad:
            raise ValueError(f"{bad[0]} is not a Telegram user id; user ids are positive numbers")
        return list(dict.fromkeys(value))

    @field_validator("owners")
    @classmethod
    def _at_least_one_owner(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError(
                "needs at least one Telegram user id: nobody else is served; "
                "write e.g. owners = [123456789] (ask @userinfobot for your id)"
            )
        return value

    @model_validator(mode="after")
    def _roles_disjoint(self) -> TelegramConfig:
        both = sorted(set(self.owners) & set(self.viewers))
        if both:
            raise ValueError(
                f"user {both[0]} is in both telegram.owners and telegram.viewers; "
                "keep each user in one list (owners can already read everything)"
            )
        return self


class ConfirmationsConfig(Section):
    """``[confirmations]``: how long a [Confirm] button stays valid."""

    ttl_s: float = Field(default=60.0, gt=0)


class SyncConfig(Section):
    """``[sync]``: how often in-flight and open orders are polled at the broker."""

    poll_interval_s: float = Field(default=2.0, gt=0)


class MonitorConfig(Section):
    """``[monitor]``: the tick monitor's watchdog and its polling fallback."""

    stale_after_s: float = Field(default=3.0, gt=0)
    poll_interval_s: float = Field(default=1.0, gt=0)


class ExitsConfig(Section):
    """``[exits]``: the spike buffer every exit rule gets unless its account says otherwise.

    A crossing counts only ``band_pct`` beyond the trigger and when it still holds on a tick
    ``dwell_s`` after the first crossing tick.
    """

    band_pct: Decimal = Field(default=Decimal(0), ge=0, lt=10)
    dwell_s: float = Field(default=1.0, ge=0, le=60)


class LoggingConfig(Section):
    """``[logging]``: the root log level."""

    level: LogLevel = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value
