"""Kite <-> core translation: the mapping tables, the payload parsers, the order form, and the
instrument index. Payloads are written here to the documented shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from brokers.zerodha.config import ZerodhaSettings
from brokers.zerodha.errors import UnexpectedPayload
from brokers.zerodha.instruments import InstrumentCache, InstrumentIndex
from brokers.zerodha.parsing import (
    IST,
    KITE_ORDER_TYPES,
    KITE_PRODUCTS,
    KITE_VALIDITIES,
    ORDER_STATUSES,
    ORDER_TYPES,
    PRODUCTS,
    SIDES,
    TRANSACTION_TYPES,
    VALIDITIES,
    balance_from,
    fill_from_trade,
    modify_params,
    order_params,
    order_report,
    order_status,
    position_from,
    quote_from,
)
from core.errors import NotFound, OrderDenied
from core.models import (
    InstrumentId,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)

S = OrderStatus
INFY = InstrumentId("NSE", "INFY")
TAG = "pd0123456789abcdef"
SETTINGS = ZerodhaSettings(api_key="fakekey", api_secret=SecretStr("s3cret"))

# Every status the Kite docs, forum answers and mock payloads show, with the core status it must
# become when nothing has filled yet.
KITE_STATUSES = {
    "PUT ORDER REQ RECEIVED": S.OPEN,
    "PUT ORDER REQUEST RECEIVED": S.OPEN,
    "AMO REQ RECEIVED": S.OPEN,
    "VALIDATION PENDING": S.OPEN,
    "OPEN PENDING": S.OPEN,
    "OPEN": S.OPEN,
    "TRIGGER PENDING": S.OPEN,
    "MODIFY VALIDATION PENDING": S.OPEN,
    "MODIFY PENDING": S.OPEN,
    "MODIFIED": S.OPEN,
    "UPDATE": S.OPEN,
    "CANCEL PENDING": S.PENDING_CANCEL,
    "COMPLETE": S.FILLED,
    "CANCELLED": S.CANCELLED,
    "REJECTED": S.REJECTED,
}


def kite_order(**changes: Any) -> dict[str, Any]:
    """An order as ``GET /orders`` lists it."""
    order: dict[str, Any] = {
        "placed_by": "AB1234",
        "order_id": "1953341975595868160",
        "exchange_order_id": "1300000001887410",
        "parent_order_id": None,
        "status": "OPEN",
        "status_message": None,
        "status_message_raw": None,
        "order_timestamp": "2026-01-05 09:15:02",
        "exchange_update_timestamp": "2026-01-05 09:15:03",
        "exchange_timestamp": "2026-01-05 09:15:03",
        "variety": "regular",
        "modified": False,
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "instrument_token": 408065,
        "order_type": "LIMIT",
        "transaction_type": "BUY",
        "validity": "DAY",
        "product": "CNC",
        "quantity": 10,
        "disclosed_quantity": 0,
        "price": 1500.5,
        "trigger_price": 0,
        "average_price": 0,
        "filled_quantity": 0,
        "pending_quantity": 10,
        "cancelled_quantity": 0,
        "market_protection": 0,
        "meta": {},
        "tag": TAG,
        "tags": [TAG],
        "guid": "01Xabc",
    }
    return order | changes


def request(order_type: OrderType = OrderType.LIMIT, **changes: Any) -> OrderRequest:
    prices = {
        OrderType.MARKET: {},
        OrderType.LIMIT: {"price": Decimal("1500.50")},
        OrderType.SL: {"price": Decimal("1490"), "trigger_price": Decimal("1495.05")},
        OrderType.SL_M: {"trigger_price": Decimal("1495.05")},
    }[order_type]
    fields: dict[str, Any] = {"account": "z1", "instrument": INFY, "side": Side.BUY}
    return OrderRequest(**(fields | {"quantity": 10, "order_type": order_type} | prices | changes))


# -- statuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kite", "core"), sorted(KITE_STATUSES.items()))
def test_every_known_kite_status_maps_to_its_core_status(kite: str, core: OrderStatus) -> None:
    assert order_status(kite_order(status=kite)) is core


def test_the_status_table_covers_every_documented_status() -> None:
    assert set(KITE_STATUSES) <= set(ORDER_STATUSES)


@pytest.mark.parametrize("status", ["PARTIALLY EXECUTED", "", None, "open pending?"])
def test_an_unknown_status_raises_instead_of_being_guessed(status: str | None) -> None:
    with pytest.raises(UnexpectedPayload, match="status"):
        order_report(kite_order(status=status), "z1")


@pytest.mark.parametrize("status", ["OPEN", "MODIFIED", "TRIGGER PENDING", "UPDATE"])
def test_a_working_order_with_some_filled_is_partially_filled(status: str) -> None:
    payload = kite_order(
        status=status, filled_quantity=4, pending_quantity=6, average_price=1500.25
    )
    report = order_report(payload, "z1")
    assert report.status is S.PARTIALLY_FILLED
    assert (report.filled_quantity, report.average_price) == (4, Decimal("1500.25"))


def test_a_cancel_after_a_partial_fill_is_cancelled_with_the_fill_kept() -> None:
    payload = kite_order(
        status="CANCELLED",
        filled_quantity=4,
        pending_quantity=0,
        cancelled_quantity=6,
        average_price=1500.25,
    )
    report = order_report(payload, "z1")
    assert (report.status, report.filled_quantity) == (S.CANCELLED, 4)
    assert report.average_price == Decimal("1500.25")


def test_a_pending_cancel_with_a_partial_fill_stays_pending_cancel() -> None:
    payload = kite_order(status="CANCEL PENDING", filled_quantity=4, pending_quantity=6)
    assert order_status(payload) is S.PENDING_CANCEL


# -- order reports -----------------------------------------------------------------------------


def test_an_open_order_becomes_a_report_in_core_terms() -> None:
    payload = kite_order()
    report = order_report(payload, "z1")
    assert report.account == "z1"
    assert report.broker_order_id == "1953341975595868160"
    assert (report.instrument, report.side, report.quantity) == (INFY, Side.BUY, 10)
    assert (report.order_type, report.product) == (OrderType.LIMIT, Product.CNC)
    assert report.status is S.OPEN
    assert report.client_order_id == TAG
    assert report.price == Decimal("1500.5")
    assert report.trigger_price is None  # Kite's 0 means "none"
    assert report.average_price is None  # nothing filled: Kite's 0 is no price
    assert report.time == datetime(2026, 1, 5, 9, 15, 3, tzinfo=IST)
    assert report.time is not None and report.time.astimezone(UTC).hour == 3
    assert report.raw is payload


def test_a_complete_order_is_filled_at_its_average_price() -> None:
    payload = kite_order(
        status="COMPLETE", filled_quantity=10, pending_quantity=0, average_price=1500.35
    )
    report = order_report(payload, "z1")
    assert (report.status, report.filled_quantity) == (S.FILLED, 10)
    assert report.average_price == Decimal("1500.35")


def test_a_rejection_carries_kites_status_message() -> None:
    message = "Insufficient funds. Required margin is 15005.00 but available margin is 74.80."
    payload = kite_order(
        status="REJECTED",
        status_message=message,
        status_message_raw="RMS:Margin Exceeds",
        pending_quantity=0,
        exchange_order_id=None,
        exchange_timestamp=None,
        exchange_update_timestamp=None,
    )
    report = order_report(payload, "z1")
    assert (report.status, report.message) == (S.REJECTED, message)
    assert report.time == datetime(2026, 1, 5, 9, 15, 2, tzinfo=IST)


def test_an_order_placed_outside_pocketdesk_has_no_client_order_id() -> None:
    assert order_report(kite_order(tag=None, tags=[]), "z1").client_order_id is None
    assert order_report(kite_order(tag=""), "z1").client_order_id is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("product", "MTF"), ("order_type", "BRACKET"), ("transaction_type", "SHORT")],
)
def test_an_unmapped_enum_value_raises(field: str, value: str) -> None:
    with pytest.raises(UnexpectedPayload):
        order_report(kite_order(**{field: value}), "z1")


def test_an_order_without_an_id_raises() -> None:
    with pytest.raises(UnexpectedPayload, match="order_id"):
        order_report(kite_order(order_id=None), "z1")


# -- order forms -------------------------------------------------------------------------------

BASE_FORM = {
    "exchange": "NSE",
    "tradingsymbol": "INFY",
    "transaction_type": "BUY",
    "quantity": "10",
    "validity": "DAY",
    "tag": TAG,
}


@pytest.mark.parametrize(
    ("order_type", "extra"),
    [
        (OrderType.MARKET, {"order_type": "MARKET", "market_protection": "-1"}),
        (OrderType.LIMIT, {"order_type": "LIMIT", "price": "1500.5"}),
        (OrderType.SL, {"order_type": "SL", "price": "1490", "trigger_price": "1495.05"}),
        (
            OrderType.SL_M,
            {"order_type": "SL-M", "trigger_price": "1495.05", "market_protection": "-1"},
        ),
    ],
)
@pytest.mark.parametrize("product", list(Product))
def test_order_params_carry_exactly_the_fields_of_the_order_type(
    order_type: OrderType, extra: dict[str, str], product: Product
) -> None:
    form = order_params(request(order_type, product=product), TAG, SETTINGS)
    assert form == BASE_FORM | extra | {"product": product.value}


def test_market_protection_follows_the_settings() -> None:
    settings = SETTINGS.model_copy(update={"market_protection": 3})
    form = order_params(request(OrderType.MARKET), TAG, settings)
    assert form["market_protection"] == "3"
    assert "market_protection" not in order_params(request(OrderType.LIMIT), TAG, settings)


def test_a_sell_ioc_order_maps_side_and_validity() -> None:
    form = order_params(request(side=Side.SELL, validity=Validity.IOC), TAG, SETTINGS)
    assert (form["transaction_type"], form["validity"]) == ("SELL", "IOC")


def test_a_tag_of_twenty_alphanumerics_is_accepted() -> None:
    assert order_params(request(), "a" * 20, SETTINGS)["tag"] == "a" * 20


@pytest.mark.parametrize("tag", ["a" * 21, "", "pd-0123", "pd 1", "pdé1"])
def test_a_tag_kite_would_refuse_is_denied_before_sending(tag: str) -> None:
    with pytest.raises(OrderDenied, match="tag"):
        order_params(request(), tag, SETTINGS)


def test_modify_params_carry_only_the_changes() -> None:
    assert modify_params(price=Decimal("1501.00")) == {"price": "1501"}
    assert modify_params(quantity=5, trigger_price=Decimal("99.95")) == {
        "quantity": "5",
        "trigger_price": "99.95",
    }
    assert modify_params() == {}


def test_a_price_is_written_without_an_exponent() -> None:
    form = order_params(request(price=Decimal("2.5E+3")), TAG, SETTINGS)
    assert form["price"] == "2500"


# -- tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("forward", "backward"),
    [
        (TRANSACTION_TYPES, SIDES),
        (ORDER_TYPES, KITE_ORDER_TYPES),
        (PRODUCTS, KITE_PRODUCTS),
        (VALIDITIES, KITE_VALIDITIES),
    ],
)
def test_every_core_value_has_a_kite_value_and_back(
    forward: dict[Any, str], backward: dict[str, Any]
) -> None:
    members = set(type(next(iter(forward))))
    assert set(forward) == members
    assert {backward[kite] for kite in forward.values()} == members


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
