"""The bundled symbol master."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.paper.instruments import (
    InstrumentMaster,
    bundled_instruments,
    lot_problem,
    price_problem,
)
from core.domain.errors import NotFound
from core.domain.models import InstrumentId
from tests.brokers.paper import LOT5, small_master


def test_the_bundled_list_has_indian_and_us_stocks_with_sane_fields() -> None:
    master = bundled_instruments()

    assert 35 <= len(master) <= 45
    assert master.exchanges == {"NSE", "NASDAQ", "NYSE"}
    for listing in master:
        instrument = listing.instrument
        expected = "INR" if instrument.id.exchange == "NSE" else "USD"
        assert instrument.currency == expected
        assert instrument.tick_size in (Decimal("0.05"), Decimal("0.01"))
        assert instrument.lot_size == 1 and instrument.name
        assert listing.reference_price > 0 and instrument.is_on_tick(listing.reference_price)
    assert master.get(InstrumentId("NSE", "RELIANCE")).tick_size == Decimal("0.05")
    assert master.get(InstrumentId("NASDAQ", "AAPL")).currency == "USD"
    assert master.get(InstrumentId("NYSE", "JPM")).tick_size == Decimal("0.01")


def test_an_unknown_instrument_is_not_found() -> None:
    with pytest.raises(NotFound, match="unknown instrument NSE:NIFTY50"):
        bundled_instruments().get(InstrumentId("NSE", "NIFTY50"))


def test_a_broken_csv_names_its_line() -> None:
    text = "exchange,symbol,name,currency,tick_size,lot_size,price\nNSE,X,x,INR,0.05,1,10.03\n"

    with pytest.raises(ValueError, match=r"line 2: NSE:X: price 10\.03 is not on the tick"):
        InstrumentMaster.from_csv_text(text)
    with pytest.raises(ValueError, match="lacks the columns price"):
        InstrumentMaster.from_csv_text("exchange,symbol,name,currency,tick_size,lot_size\n")


def test_lot_and_tick_rules() -> None:
    lot5 = small_master().get(LOT5)

    assert lot_problem(lot5, 10) == ""
    assert "not a multiple of the lot size 5" in lot_problem(lot5, 12)
    assert price_problem(lot5, Decimal("50.05"), None) == ""
    assert "trigger price 50.02" in price_problem(lot5, None, Decimal("50.02"))
