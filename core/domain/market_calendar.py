"""When each exchange trades: its time zone, its session, weekends and holidays.

The data is ``core/domain/calendars/exchanges.toml``, bundled with pocketdesk; that file's header
says where its dates come from and how an updated file extends it (``MarketCalendar.load``), so a
holiday announced mid-year needs no new release. An exchange the calendar does not know is an
``UnknownExchange`` error, never "always open".
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.domain.errors import ConfigError

__all__ = ["ExchangeHours", "MarketCalendar", "UnknownExchange"]

_BUNDLED = "calendars/exchanges.toml"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_REPLACED = ("timezone", "open", "close", "weekend", "standard_time_close", "dst_zone")
_TABLES = ("early_closes", "late_opens", "special_sessions")
_KEYS = frozenset({*_REPLACED, *_TABLES, "holidays", "not_holidays", "holidays_from"})
_SEARCH_DAYS = 400  # next_open gives up after this: no exchange closes for a year


class UnknownExchange(LookupError):
    """The calendar has no entry for this exchange."""

    def __init__(self, exchange: str, known: list[str]) -> None:
        super().__init__(
            f"no market calendar for exchange {exchange} (it knows {', '.join(known)}); "
            "add it in a calendar file ([risk] calendar_file) or set market_hours = false"
        )
        self.exchange = exchange


@dataclass(frozen=True, slots=True)
class ExchangeHours:
    """One exchange's regular session and its exceptions, in the exchange's local time."""

    exchange: str
    zone: ZoneInfo
    open: time
    close: time
    weekend: frozenset[int] = frozenset({5, 6})  # date.weekday(): Monday is 0
    holidays: frozenset[date] = frozenset()
    early_closes: Mapping[date, time] = field(default_factory=dict)
    late_opens: Mapping[date, time] = field(default_factory=dict)
    special_sessions: Mapping[date, tuple[time, time]] = field(default_factory=dict)
    standard_time_close: time | None = None
    dst_zone: ZoneInfo | None = None

    def session(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's session as aware datetimes, or ``None`` when there is none."""
        special = self.special_sessions.get(day)
        if special is not None:
            return self._at(day, special[0]), self._at(day, special[1])
        if day.weekday() in self.weekend or day in self.holidays:
            return None
        start = self.late_opens.get(day, self.open)
        end = self.early_closes.get(day) or self._regular_close(day)
        return self._at(day, start), self._at(day, end)

    def _regular_close(self, day: date) -> time:
        if self.standard_time_close is None or self.dst_zone is None:
            return self.close
        noon = datetime.combine(day, time(12), self.dst_zone)
        return self.close if noon.dst() else self.standard_time_close

    def _at(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, self.zone)


class MarketCalendar:
    """Sessions and holidays of every exchange the calendar file lists."""

    def __init__(self, raw: Mapping[str, Mapping[str, Any]], source: str) -> None:
        self._raw = {name: dict(entry) for name, entry in raw.items()}
        self.source = source
        self._hours = {name: _build(name, self._raw, source) for name in self._raw}

    @classmethod
    def bundled(cls) -> MarketCalendar:
        """The calendar shipped with pocketdesk."""
        return _bundled()

    @classmethod
    def load(cls, path: str | Path, *, base: MarketCalendar | None = None) -> MarketCalendar:
        """An updated calendar: ``path`` applied over ``base`` (the bundled one by default).

        ``ConfigError`` names the file and the key when the file is wrong.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the calendar file {path}: {exc.strerror}") from None
        update = _parse(text, str(path))
        base = cls.bundled() if base is None else base
        return cls(_merge(base._raw, update), f"{base.source} + {path}")

    @property
    def exchanges(self) -> list[str]:
        return sorted(self._hours)

    def hours(self, exchange: str) -> ExchangeHours:
        """The exchange's hours; ``UnknownExchange`` when the calendar has none."""
        try:
            return self._hours[exchange.upper()]
        except KeyError:
            raise UnknownExchange(exchange, self.exchanges) from None

    def timezone(self, exchange: str) -> ZoneInfo:
        return self.hours(exchange).zone

    def session(self, exchange: str, day: date) -> tuple[datetime, datetime] | None:
        """Open and close on ``day`` (the exchange's local date), or ``None`` without a session."""
        return self.hours(exchange).session(day)

    def is_trading_day(self, exchange: str, day: date) -> bool:
        return self.session(exchange, day) is not None

    def is_open(self, exchange: str, at: datetime) -> bool:
        """Whether the exchange's regular session is running at ``at`` (an aware datetime)."""
        hours = self.hours(exchange)
        local = _aware(at).astimezone(hours.zone)
        session = hours.session(local.date())
        return session is not None and session[0] <= local < session[1]

    def next_open(self, exchange: str, at: datetime) -> datetime:
        """When the exchange is next open at or after ``at``: ``at`` itself while it is open."""
        hours = self.hours(exchange)
        local = _aware(at).astimezone(hours.zone)
        for offset in range(_SEARCH_DAYS):
            session = hours.session(local.date() + timedelta(days=offset))
            if session is not None and session[1] > local:
                return max(session[0], local)
        raise ValueError(f"{exchange} has no session within {_SEARCH_DAYS} days of {at}")


@cache
def _bundled() -> MarketCalendar:
    text = resources.files("core.domain").joinpath(_BUNDLED).read_text(encoding="utf-8")
    return MarketCalendar(_parse(text, f"core/{_BUNDLED}"), "bundled")


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at} has no time zone; pass an aware datetime")
    return at


def _parse(text: str, source: str) -> dict[str, dict[str, Any]]:
    """The ``exchanges`` tables of a calendar file, keys checked, names upper-cased."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    exchanges = data.get("exchanges")
    if not isinstance(exchanges, dict):
        raise ConfigError(f"{source} has no [exchanges.<NAME>] tables")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in exchanges.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: exchanges.{name} must be a table")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise ConfigError(
                f"{source}: exchanges.{name}.{unknown[0]} is not a calendar key; "
                f"known keys: {', '.join(sorted(_KEYS))}"
            )
        out[name.strip().upper()] = entry
    return out


def _merge(
    base: Mapping[str, Mapping[str, Any]], update: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``update`` over ``base`` as the bundled file's header describes."""
    merged = {name: dict(entry) for name, entry in base.items()}
    for name, entry in update.items():
        target = merged.setdefault(name, {})
        for key, value in entry.items():
            if key in _TABLES:
                target[key] = {**target.get(key, {}), **value}
            elif key in ("holidays", "not_holidays"):
                target[key] = [*target.get(key, []), *value]
            else:
                target[key] = value
    return merged


def _build(name: str, raw: Mapping[str, Mapping[str, Any]], source: str) -> ExchangeHours:
    entry = raw[name]
    where = f"{source}: exchanges.{name}"
    for key in ("timezone", "open", "close"):
        if key not in entry:
            raise ConfigError(f"{where} needs {key}")
    shared = _shared(name, raw, where)
    holidays = {_date(d, f"{where}.holidays") for d in [*shared.get("holidays", [])]}
    holidays |= {_date(d, f"{where}.holidays") for d in entry.get("holidays", [])}
    holidays -= {_date(d, f"{where}.not_holidays") for d in entry.get("not_holidays", [])}
    tables = {key: {**shared.get(key, {}), **entry.get(key, {})} for key in _TABLES}
    hours = ExchangeHours(
        exchange=name,
        zone=_zone(entry["timezone"], f"{where}.timezone"),
        open=_time(entry["open"], f"{where}.open"),
        close=_time(entry["close"], f"{where}.close"),
        weekend=_weekend(entry.get("weekend", ["Sat", "Sun"]), f"{where}.weekend"),
        holidays=frozenset(holidays),
        early_closes={
            _date(d, f"{where}.early_closes"): _time(t, f"{where}.early_closes.{d}")
            for d, t in tables["early_closes"].items()
        },
        late_opens={
            _date(d, f"{where}.late_opens"): _time(t, f"{where}.late_opens.{d}")
            for d, t in tables["late_opens"].items()
        },
        special_sessions={
            _date(d, f"{where}.special_sessions"): _pair(s, f"{where}.special_sessions.{d}")
            for d, s in tables["special_sessions"].items()
        },
        standard_time_close=_optional_time(entry, "standard_time_close", where),
        dst_zone=(_zone(entry["dst_zone"], f"{where}.dst_zone") if "dst_zone" in entry else None),
    )
    if hours.open >= hours.close:
        raise ConfigError(f"{where}: open {hours.open} is not before close {hours.close}")
    if (hours.standard_time_close is None) != (hours.dst_zone is None):
        raise ConfigError(f"{where}: standard_time_close and dst_zone go together")
    return hours


def _shared(name: str, raw: Mapping[str, Mapping[str, Any]], where: str) -> Mapping[str, Any]:
    """The entry named by ``holidays_from`` (one level: it may not point further)."""
    other = raw[name].get("holidays_from")
    if other is None:
        return {}
    other = str(other).upper()
    if other not in raw or other == name:
        raise ConfigError(f"{where}.holidays_from: {other} is not another exchange in the file")
    if "holidays_from" in raw[other]:
        raise ConfigError(f"{where}.holidays_from: {other} takes its own holidays from elsewhere")
    entry = raw[other]
    removed = {_date(d, f"{where}.not_holidays") for d in entry.get("not_holidays", [])}
    kept = [d for d in entry.get("holidays", []) if _date(d, where) not in removed]
    return {**{key: entry.get(key, {}) for key in _TABLES}, "holidays": kept}


def _date(value: Any, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date; write YYYY-MM-DD") from None


def _time(value: Any, where: str) -> time:
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f'{where}: {value!r} is not a time of day; write "HH:MM"') from None
    if parsed.tzinfo is not None:
        raise ConfigError(f"{where}: write the exchange's local time, without an offset")
    return parsed


def _optional_time(entry: Mapping[str, Any], key: str, where: str) -> time | None:
    return _time(entry[key], f"{where}.{key}") if key in entry else None


def _pair(value: Any, where: str) -> tuple[time, time]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f'{where}: write ["HH:MM", "HH:MM"] (open, close)')
    start, end = _time(value[0], where), _time(value[1], where)
    if start >= end:
        raise ConfigError(f"{where}: open {start} is not before close {end}")
    return start, end


def _zone(value: Any, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f'{where}: {value!r} is not a time zone; write e.g. "Asia/Kolkata"'
        ) from None


def _weekend(value: Any, where: str) -> frozenset[int]:
    if not isinstance(value, list):
        raise ConfigError(f'{where}: write a list of weekdays, e.g. ["Sat", "Sun"]')
    days: set[int] = set()
    for item in value:
        short = str(item).strip().lower()[:3]
        if short not in _WEEKDAYS:
            raise ConfigError(f"{where}: {item!r} is not a weekday")
        days.add(_WEEKDAYS.index(short))
    return frozenset(days)
