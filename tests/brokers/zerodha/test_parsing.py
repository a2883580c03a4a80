"""Kite <-> core translation: the mapping tables, the payload parsers, the order form, and the
instrument index. Payloads are written here to the documented shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from brokers.zerodha.config import ZerodhaSettings
from brokers.zerodha.errors import UnexpectedPayload
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
    modify_params,
    order_params,
    order_report,
    order_status,
)
from core.domain.errors import OrderDenied
from core.domain.models import (
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
