"""Parsing Kite's fills, positions, quotes, funds and instrument dump into core values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from brokers.zerodha.errors import UnexpectedPayload
from brokers.zerodha.instruments import InstrumentCache, InstrumentIndex
from brokers.zerodha.parsing import (
    IST,
    balance_from,
    fill_from_trade,
    position_from,
    quote_from,
)
from core.domain.errors import NotFound
from core.domain.models import (
    InstrumentId,
    Product,
    Side,
)
from tests.brokers.zerodha.test_parsing import (
    INFY,
    TAG,
)

# -- fills, positions, quotes, funds -----------------------------------------------------------


def test_a_trade_becomes_a_fill_at_its_own_price() -> None:
    trade = {
        "trade_id": "70000001",
        "order_id": "1953341975595868160",
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "instrument_token": 408065,
        "product": "CNC",
        "average_price": 1500.4,
        "quantity": 4,
        "exchange_order_id": "1300000001887410",
        "transaction_type": "BUY",
        "fill_timestamp": "2026-01-05 09:15:04",
        "order_timestamp": "09:15:02",
        "exchange_timestamp": "2026-01-05 09:15:04",
    }
    fill = fill_from_trade(trade, client_order_id=TAG)
    assert (fill.fill_id, fill.broker_order_id) == ("70000001", "1953341975595868160")
    assert (fill.instrument, fill.side, fill.quantity) == (INFY, Side.BUY, 4)
    assert fill.price == Decimal("1500.4")
    assert fill.time == datetime(2026, 1, 5, 9, 15, 4, tzinfo=IST)
    assert fill.client_order_id == TAG


def test_a_short_position_keeps_its_sign() -> None:
    payload = {
        "tradingsymbol": "SBIN",
        "exchange": "NSE",
        "product": "MIS",
        "quantity": -25,
        "average_price": 800.05,
        "last_price": 799.5,
        "realised": 12.5,
        "unrealised": 13.75,
    }
    position = position_from(payload, "z1")
    assert (position.instrument, position.product) == (InstrumentId("NSE", "SBIN"), Product.MIS)
    assert position.quantity == -25
    assert position.average_price == Decimal("800.05")
    assert position.realised_pnl == Decimal("12.5")
    assert position.unrealised_pnl == Decimal("13.75")


def test_a_full_quote_has_the_best_bid_and_ask() -> None:
    payload = {
        "instrument_token": 408065,
        "timestamp": "2026-01-05 09:20:00",
        "last_price": 1500.5,
        "volume": 123456,
        "depth": {
            "buy": [{"price": 1500.45, "quantity": 10, "orders": 2}],
            "sell": [{"price": 1500.55, "quantity": 12, "orders": 3}],
        },
    }
    now = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    quote = quote_from(INFY, payload, now=now)
    assert (quote.last_price, quote.bid, quote.ask) == (
        Decimal("1500.5"),
        Decimal("1500.45"),
        Decimal("1500.55"),
    )
    assert quote.volume == 123456
    assert quote.time == datetime(2026, 1, 5, 9, 20, tzinfo=IST)


def test_an_ltp_entry_is_a_quote_stamped_now() -> None:
    now = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    quote = quote_from(INFY, {"instrument_token": 408065, "last_price": 1500}, now=now)
    assert (quote.last_price, quote.time, quote.bid, quote.volume) == (
        Decimal(1500),
        now,
        None,
        None,
    )


def test_an_empty_depth_level_is_no_bid() -> None:
    depth = {"buy": [{"price": 0, "quantity": 0, "orders": 0}], "sell": []}
    quote = quote_from(INFY, {"last_price": 1, "depth": depth}, now=datetime.now(UTC))
    assert (quote.bid, quote.ask) == (None, None)


def test_margins_become_a_balance() -> None:
    margins = {
        "equity": {
            "enabled": True,
            "net": 99725.05,
            "available": {"cash": 100000.0, "live_balance": 99725.05},
            "utilised": {"debits": 274.95},
        }
    }
    balance = balance_from(margins, "z1")
    assert (balance.cash, balance.available, balance.used_margin) == (
        Decimal("99725.05"),
        Decimal("99725.05"),
        Decimal("274.95"),
    )
    with pytest.raises(UnexpectedPayload, match="commodity"):
        balance_from(margins, "z1", segment="commodity")


# -- instruments -------------------------------------------------------------------------------

CSV = """\
instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange
408065,1594,INFY,INFOSYS,0.0,,0.0,0.05,1,EQ,NSE,NSE
738561,2885,M&M,MAHINDRA & MAHINDRA,0.0,,0.0,0.05,1,EQ,NSE,NSE
12010754,46917,NIFTY26JAN24000CE,NIFTY,0.0,2026-01-27,24000.0,0.05,75,CE,NFO-OPT,NFO
256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.0,0,EQ,INDICES,NSE
"""


def test_the_instrument_dump_becomes_an_index_with_decimal_tick_sizes() -> None:
    index = InstrumentIndex.from_csv(CSV)
    option = InstrumentId("NFO", "NIFTY26JAN24000CE")
    listing = index.listing(option)
    assert listing.instrument.tick_size == Decimal("0.05")
    assert listing.instrument.lot_size == 75
    assert (listing.token, listing.expiry, listing.strike) == (
        12010754,
        date(2026, 1, 27),
        Decimal("24000.0"),
    )
    assert index.get(InstrumentId("NSE", "M&M")).name == "MAHINDRA & MAHINDRA"
    assert index.token(INFY) == 408065
    assert index.id_for_token(408065) == INFY


def test_rows_that_are_not_tradable_symbols_are_skipped() -> None:
    index = InstrumentIndex.from_csv(CSV)
    assert (len(index), index.skipped) == (3, 1)
    with pytest.raises(NotFound):
        index.id_for_token(256265)


def test_an_unknown_instrument_or_token_is_not_found() -> None:
    index = InstrumentIndex.from_csv(CSV)
    with pytest.raises(NotFound):
        index.get(InstrumentId("NSE", "NOPE"))
    with pytest.raises(NotFound):
        index.id_for_token(1)


def test_a_csv_without_kites_header_is_refused() -> None:
    with pytest.raises(ValueError, match="tick_size"):
        InstrumentIndex.from_csv("instrument_token,tradingsymbol\n1,INFY\n")


async def test_the_index_is_fetched_once_a_day() -> None:
    fetches: list[int] = []
    day = [date(2026, 1, 5)]

    async def fetch() -> str:
        fetches.append(1)
        return CSV

    cache = InstrumentCache(fetch, today=lambda: day[0])
    first = await cache.index()
    assert await cache.index() is first
    assert len(fetches) == 1
    day[0] = date(2026, 1, 6)
    assert await cache.index() is not first
    assert (len(fetches), cache.stamp) == (2, date(2026, 1, 6))
