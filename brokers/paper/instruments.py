"""The paper broker's symbol master: a bundled CSV of tradable instruments and their start prices.

The list ships inside the package (``instruments.csv``) and is read with ``importlib.resources``
so it works from a wheel or a zip as well as from a checkout. Tests may build their own
``InstrumentMaster`` from CSV text, for instance to get an instrument with a lot size above one.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources

from core.domain.errors import NotFound
from core.domain.models import Instrument, InstrumentId

CSV_COLUMNS = ("exchange", "symbol", "name", "currency", "tick_size", "lot_size", "price")


@dataclass(frozen=True, slots=True)
class Listing:
    """One tradable instrument and the price the simulation starts it at."""

    instrument: Instrument
    reference_price: Decimal

    @property
    def id(self) -> InstrumentId:
        """The instrument's id."""
        return self.instrument.id


class InstrumentMaster:
    """Instruments by id; unknown ids raise ``NotFound`` like a real broker's symbol lookup."""

    def __init__(self, listings: Iterable[Listing]) -> None:
        self._listings: dict[InstrumentId, Listing] = {}
        for listing in listings:
            if listing.id in self._listings:
                raise ValueError(f"instrument {listing.id} is listed twice")
            self._listings[listing.id] = listing
        # Sorted once so every walk over the master (the random feed above all) is deterministic.
        self._ids = tuple(sorted(self._listings))

    @classmethod
    def from_csv_text(cls, text: str) -> InstrumentMaster:
        """Parse CSV with the columns of ``CSV_COLUMNS``; raise ``ValueError`` naming the line."""
        reader = csv.DictReader(io.StringIO(text))
        missing = set(CSV_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"instrument CSV lacks the columns {', '.join(sorted(missing))}")
        listings = []
        for row in reader:
            try:
                listings.append(_parse_row(row))
            except (ValueError, InvalidOperation, TypeError) as err:
                raise ValueError(f"instrument CSV line {reader.line_num}: {err}") from None
        return cls(listings)

    def get(self, instrument: InstrumentId) -> Instrument:
        """The instrument, or ``NotFound`` when the paper broker does not list it."""
        return self.listing(instrument).instrument

    def listing(self, instrument: InstrumentId) -> Listing:
        """The instrument with its reference price, or ``NotFound``."""
        try:
            return self._listings[instrument]
        except KeyError:
            exchanges = ", ".join(sorted(self.exchanges))
            raise NotFound(
                f"unknown instrument {instrument}: the paper broker lists {len(self)} "
                f"instruments on {exchanges}",
                code="unknown_instrument",
            ) from None

    def reference_price(self, instrument: InstrumentId) -> Decimal:
        """The bundled start price of an instrument."""
        return self.listing(instrument).reference_price

    @property
    def exchanges(self) -> frozenset[str]:
        """Every exchange with at least one listed instrument."""
        return frozenset(iid.exchange for iid in self._ids)

    @property
    def ids(self) -> tuple[InstrumentId, ...]:
        """All instrument ids, sorted."""
        return self._ids

    def __contains__(self, instrument: object) -> bool:
        return instrument in self._listings

    def __iter__(self) -> Iterator[Listing]:
        return (self._listings[iid] for iid in self._ids)

    def __len__(self) -> int:
        return len(self._listings)


def _parse_row(row: dict[str, str]) -> Listing:
    instrument_id = InstrumentId.parse(f"{row['exchange']}:{row['symbol']}")
    tick = Decimal(row["tick_size"].strip())
    lot = int(row["lot_size"].strip())
    price = Decimal(row["price"].strip())
    if tick <= 0 or lot < 1 or price <= 0:
        raise ValueError(f"{instrument_id}: tick size, lot size and price must be positive")
    instrument = Instrument(
        id=instrument_id,
        tick_size=tick,
        lot_size=lot,
        currency=row["currency"].strip().upper(),
        name=row["name"].strip(),
    )
    if not instrument.is_on_tick(price):
        raise ValueError(f"{instrument_id}: price {price} is not on the tick size {tick}")
    return Listing(instrument, price)


def lot_problem(instrument: Instrument, quantity: int) -> str:
    """Why ``quantity`` cannot be traded in ``instrument``, or ``""``."""
    if quantity <= 0:
        return "quantity must be a positive whole number"
    if not instrument.is_whole_lots(quantity):
        return (
            f"quantity {quantity} is not a multiple of the lot size {instrument.lot_size} "
            f"of {instrument.id}"
        )
    return ""


def price_problem(instrument: Instrument, price: Decimal | None, trigger: Decimal | None) -> str:
    """Why a price or trigger price is not valid for ``instrument``, or ``""``."""
    for label, value in (("price", price), ("trigger price", trigger)):
        if value is None:
            continue
        if value <= 0:
            return f"{label} must be positive"
        if not instrument.is_on_tick(value):
            return (
                f"{label} {value} is not a multiple of the tick size {instrument.tick_size} "
                f"of {instrument.id}"
            )
    return ""


@functools.cache
def bundled_instruments() -> InstrumentMaster:
    """The instruments shipped with pocketdesk, parsed once per process."""
    text = resources.files(__package__ or "brokers.paper").joinpath("instruments.csv")
    return InstrumentMaster.from_csv_text(text.read_text(encoding="utf-8"))
