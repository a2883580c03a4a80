"""Kite's symbol master: the daily instruments CSV as an index, cached for the day.

Instruments are keyed on ``EXCHANGE:TRADINGSYMBOL``; Kite reuses numeric instrument tokens after
an expiry, so a token is only meaningful within one day's dump. Rows that cannot be traded as an
``InstrumentId`` (indices such as ``NIFTY 50`` have a space and a zero tick size) are skipped.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from brokers.zerodha.parsing import IST
from core.domain.errors import NotFound
from core.domain.models import Instrument, InstrumentId

CSV_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)


@dataclass(frozen=True, slots=True)
class KiteInstrument:
    """One row of the dump: the core instrument and Kite's token and contract details."""

    instrument: Instrument
    token: int
    instrument_type: str
    segment: str
    expiry: date | None = None
    strike: Decimal = Decimal(0)

    @property
    def id(self) -> InstrumentId:
        """The instrument's id."""
        return self.instrument.id


class InstrumentIndex:
    """Instruments by id and ids by token, for one day's dump."""

    def __init__(self, rows: list[KiteInstrument], skipped: int = 0) -> None:
        self._by_id = {row.id: row for row in rows}
        self._by_token = {row.token: row.id for row in rows}
        self.skipped = skipped

    @classmethod
    def from_csv(cls, text: str) -> InstrumentIndex:
        """Parse Kite's CSV; raise ``ValueError`` when the header is not Kite's."""
        reader = csv.DictReader(io.StringIO(text))
        missing = set(CSV_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"instrument CSV lacks the columns {', '.join(sorted(missing))}")
        rows, skipped = [], 0
        for row in reader:
            parsed = _parse_row(row)
            if parsed is None:
                skipped += 1
            else:
                rows.append(parsed)
        return cls(rows, skipped)

    def get(self, instrument: InstrumentId) -> Instrument:
        """The instrument, or ``NotFound``."""
        return self.listing(instrument).instrument

    def listing(self, instrument: InstrumentId) -> KiteInstrument:
        """The instrument with Kite's details, or ``NotFound``."""
        try:
            return self._by_id[instrument]
        except KeyError:
            raise NotFound(
                f"Kite does not list {instrument} today", code="unknown_instrument"
            ) from None

    def token(self, instrument: InstrumentId) -> int:
        """Kite's instrument token (for the ticker), or ``NotFound``."""
        return self.listing(instrument).token

    def id_for_token(self, token: int) -> InstrumentId:
        """The instrument a ticker token stands for today, or ``NotFound``."""
        try:
            return self._by_token[token]
        except KeyError:
            raise NotFound(
                f"no instrument has Kite token {token} today", code="unknown_token"
            ) from None

    def __contains__(self, instrument: object) -> bool:
        return instrument in self._by_id

    def __iter__(self) -> Iterator[KiteInstrument]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def ist_today() -> date:
    """Today's date in India, where the dump is made."""
    return datetime.now(IST).date()


class InstrumentCache:
    """The day's index, fetched on first use and again once the date stamp changes."""

    def __init__(
        self, fetch_csv: Callable[[], Awaitable[str]], *, today: Callable[[], date] = ist_today
    ) -> None:
        self._fetch_csv = fetch_csv
        self._today = today
        self._index: InstrumentIndex | None = None
        self._stamp: date | None = None
        self._lock = asyncio.Lock()

    @property
    def stamp(self) -> date | None:
        """The day of the index in hand, if any."""
        return self._stamp

    async def index(self) -> InstrumentIndex:
        """Today's index; a failed fetch raises (the caller retries), keeping yesterday's out."""
        async with self._lock:
            day = self._today()
            if self._index is None or self._stamp != day:
                self._index = InstrumentIndex.from_csv(await self._fetch_csv())
                self._stamp = day
            return self._index

    async def refresh(self) -> InstrumentIndex:
        """Download the dump again even if today's is in hand; a failure keeps the old one."""
        async with self._lock:
            index = InstrumentIndex.from_csv(await self._fetch_csv())
            self._index, self._stamp = index, self._today()
            return index

    def invalidate(self) -> None:
        """Forget the index, so the next use fetches a fresh dump."""
        self._index = self._stamp = None


def _parse_row(row: dict[str, str]) -> KiteInstrument | None:
    """One CSV row, or ``None`` when it is not a tradable instrument."""
    try:
        instrument_id = InstrumentId.parse(f"{row['exchange']}:{row['tradingsymbol']}")
        tick = Decimal(row["tick_size"].strip())
        lot = int(row["lot_size"].strip())
        token = int(row["instrument_token"].strip())
        strike = Decimal(row["strike"].strip() or "0")
        expiry_text = row["expiry"].strip()
        expiry = date.fromisoformat(expiry_text) if expiry_text else None
    except (ValueError, InvalidOperation, AttributeError):
        return None
    if not tick.is_finite() or tick <= 0 or lot < 1:
        return None
    instrument = Instrument(
        id=instrument_id, tick_size=tick, lot_size=lot, currency="INR", name=row["name"].strip()
    )
    return KiteInstrument(
        instrument=instrument,
        token=token,
        instrument_type=row["instrument_type"].strip(),
        segment=row["segment"].strip(),
        expiry=expiry,
        strike=strike,
    )
