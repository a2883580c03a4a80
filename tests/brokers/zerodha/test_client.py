"""``KiteClient`` against the fake Kite server over loopback: the wire format, every error
mapping, writes that time out or are rate limited, pacing, login and logout; and the settings."""

from __future__ import annotations

import socket
from decimal import Decimal

import httpx
import pytest

from brokers.zerodha.client import KiteClient
from brokers.zerodha.errors import error_from_response
from brokers.zerodha.instruments import InstrumentIndex
from brokers.zerodha.parsing import order_report
from core.domain.errors import (
    AuthenticationFailed,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    NotFound,
    OutcomeUnknown,
)
from core.domain.models import InstrumentId, OrderRequest, OrderStatus, Side
from tests.brokers.zerodha.kite_support import (
    INFY,
    TAG,
    place,
    settings_for,
    unhurried,
)
from tests.fakes.kite import FakeKite

# -- the wire ----------------------------------------------------------------------------------


async def test_place_order_sends_kites_headers_and_exactly_our_form(
    fake: FakeKite, kite: KiteClient
) -> None:
    order_id = await place(kite)

    [sent] = fake.of("POST", "/orders/regular")
    assert sent.form == {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "quantity": "10",
        "product": "CNC",
        "order_type": "LIMIT",
        "price": "1500.5",
        "validity": "DAY",
        "tag": TAG,
    }
    assert sent.headers["X-Kite-Version"] == "3"
    assert sent.headers["Authorization"] == f"token fakekey:{fake.access_token}"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert fake.order(order_id)["tag"] == TAG


async def test_a_market_order_carries_market_protection_and_fills(
    fake: FakeKite, kite: KiteClient
) -> None:
    fake.script_next_order(10, at_once=True)
    market = OrderRequest("z1", INFY, Side.BUY, 10)
    order_id = await place(kite, market)

    assert fake.of("POST", "/orders")[0].form["market_protection"] == "-1"
    [order] = await kite.orders()
    report = order_report(order, "z1")
    assert (report.broker_order_id, report.status) == (order_id, OrderStatus.FILLED)
    assert report.average_price == Decimal("1500.5")


async def test_partial_fills_show_in_orders_history_and_trades(
    fake: FakeKite, kite: KiteClient
) -> None:
    fake.script_next_order(4, 6)
    order_id = await place(kite)
    fake.step()
    partial = order_report((await kite.orders())[0], "z1")
    assert (partial.status, partial.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 4)

    fake.step()
    history = await kite.order_history(order_id)
    assert [h["status"] for h in history][:4] == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
    ]
    assert order_report(history[-1], "z1").status is OrderStatus.FILLED
    assert [t["quantity"] for t in await kite.trades()] == [4, 6]
    assert len(await kite.order_trades(order_id)) == 2
    positions = await kite.positions()
    assert [(p["tradingsymbol"], p["quantity"]) for p in positions["net"]] == [("INFY", 10)]


async def test_a_rejection_after_placement_is_in_the_order_book_with_its_reason(
    fake: FakeKite, kite: KiteClient
) -> None:
    fake.script_next_order("reject", status_message="Insufficient funds.")
    order_id = await place(kite)
    assert fake.order(order_id)["status"] == "OPEN"
    fake.step(order_id)
    report = order_report((await kite.orders())[0], "z1")
    assert (report.status, report.message) == (OrderStatus.REJECTED, "Insufficient funds.")


async def test_modify_and_cancel_send_only_their_fields(fake: FakeKite, kite: KiteClient) -> None:
    order_id = await place(kite)
    assert await kite.modify_order("regular", order_id, {"price": "1499"}) == order_id
    assert await kite.cancel_order("regular", order_id) == order_id

    assert fake.of("PUT", f"/orders/regular/{order_id}")[0].form == {"price": "1499"}
    assert fake.of("DELETE", f"/orders/regular/{order_id}")[0].form == {}
    report = order_report(fake.order(order_id), "z1")
    assert (report.status, report.price) == (OrderStatus.CANCELLED, Decimal(1499))


async def test_reads_return_kites_data(fake: FakeKite, kite: KiteClient) -> None:
    assert (await kite.profile())["user_id"] == "AB1234"
    assert (await kite.margins())["equity"]["net"] == 99725.05
    assert (await kite.margins("equity"))["net"] == 99725.05
    assert [h["tradingsymbol"] for h in await kite.holdings()] == ["INFY"]
    quotes = await kite.quote(["NSE:INFY", "NSE:NOPE"])
    assert list(quotes) == ["NSE:INFY"]  # unknown instruments are simply absent
    assert quotes["NSE:INFY"]["depth"]["buy"][0]["price"] == 1500.45
    assert (await kite.ltp(["NSE:SBIN"]))["NSE:SBIN"]["last_price"] == 800.05
    assert fake.of("GET", "/quote")[0].query == [("i", "NSE:INFY"), ("i", "NSE:NOPE")]


async def test_the_instrument_dump_is_csv_text_that_indexes(kite: KiteClient) -> None:
    index = InstrumentIndex.from_csv(await kite.instruments_csv("NSE"))
    assert index.token(INFY) == 408065
    assert InstrumentId("BSE", "RELIANCE") not in index
    assert InstrumentId("BSE", "RELIANCE") in InstrumentIndex.from_csv(await kite.instruments_csv())


async def test_an_unknown_order_id_is_not_found(kite: KiteClient) -> None:
    with pytest.raises(NotFound):
        await kite.order_history("999")
    with pytest.raises(NotFound):
        await kite.cancel_order("regular", "999")


async def test_modifying_a_finished_order_is_rejected(fake: FakeKite, kite: KiteClient) -> None:
    fake.script_next_order(10, at_once=True)
    order_id = await place(kite)
    with pytest.raises(BrokerRejected) as caught:
        await kite.modify_order("regular", order_id, {"price": "1"})
    assert type(caught.value) is BrokerRejected
    assert caught.value.code == "OrderException"


# -- error mapping -----------------------------------------------------------------------------

WRITE, READ = True, False
ERRORS = [
    (403, "TokenException", "Incorrect `api_key` or `access_token`.", READ, AuthenticationFailed),
    (403, "TokenException", "Incorrect `api_key` or `access_token`.", WRITE, AuthenticationFailed),
    (403, "PermissionException", "No IPs configured for this app.", WRITE, BrokerRejected),
    (400, "InputException", "Missing or empty field `product`", WRITE, BrokerRejected),
    (400, "InputException", "Invalid `tradingsymbol`.", READ, BrokerRejected),
    (400, "OrderException", "Enter Valid Price", WRITE, BrokerRejected),
    (400, "MarginException", "Insufficient funds. Required margin is 9.5.", WRITE, BrokerRejected),
    (400, "HoldingException", "Insufficient holdings.", WRITE, BrokerRejected),
    (400, "UserException", "Your account is blocked.", WRITE, BrokerRejected),
    (400, "InputException", "Couldn't find that `order_id`.", READ, NotFound),
    (503, "NetworkException", "Service unavailable.", READ, BrokerUnavailable),
    (503, "NetworkException", "Service unavailable.", WRITE, OutcomeUnknown),
    (502, "DataException", "Couldn't parse the OMS response.", READ, BrokerUnavailable),
    (502, "DataException", "Couldn't parse the OMS response.", WRITE, OutcomeUnknown),
    (500, "GeneralException", "Something went wrong.", READ, BrokerUnavailable),
    (500, "GeneralException", "Something went wrong.", WRITE, OutcomeUnknown),
    (504, "GeneralException", "Gateway timeout.", WRITE, OutcomeUnknown),
    # a 5xx leaves a write in doubt whatever its type says
    (500, "OrderException", "Order could not be placed.", WRITE, OutcomeUnknown),
    (
        400,
        "InputException",
        "Order request timed out. Please check the order book",
        WRITE,
        OutcomeUnknown,
    ),
    (429, "NetworkException", "Too many requests", READ, BrokerUnavailable),
    (429, "NetworkException", "Too many requests", WRITE, BrokerUnavailable),
]


@pytest.mark.parametrize(("status", "error_type", "message", "write", "expected"), ERRORS)
async def test_each_kite_error_becomes_its_core_error(
    fake: FakeKite,
    kite: KiteClient,
    status: int,
    error_type: str,
    message: str,
    write: bool,
    expected: type[BrokerError],
) -> None:
    fake.fail_next(status, error_type, message)
    with pytest.raises(BrokerError) as caught:
        await (place(kite) if write else kite.orders())
    assert type(caught.value) is expected
    assert caught.value.code == error_type
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("status", "write", "expected"),
    [
        (400, WRITE, BrokerRejected),
        (403, READ, AuthenticationFailed),
        (404, READ, NotFound),
        (502, READ, BrokerUnavailable),
        (502, WRITE, OutcomeUnknown),
        (418, WRITE, OutcomeUnknown),
    ],
)
def test_an_error_without_a_kite_body_is_judged_by_its_http_status(
    status: int, write: bool, expected: type[BrokerError]
) -> None:
    assert type(error_from_response("x", status, None, write=write)) is expected


async def test_an_expired_token_fails_reads_and_writes_without_showing_the_token(
    fake: FakeKite, kite: KiteClient
) -> None:
    token = fake.access_token
    fake.expire_token()
    for call in (kite.orders, kite.profile, lambda: place(kite)):
        with pytest.raises(AuthenticationFailed) as caught:
            await call()
        assert token not in str(caught.value)
        assert token not in repr(caught.value)


async def test_a_message_echoing_a_secret_is_redacted(fake: FakeKite, kite: KiteClient) -> None:
    fake.fail_next(400, "InputException", f"bad header token fakekey:{fake.access_token}")
    with pytest.raises(BrokerRejected) as caught:
        await kite.orders()
    assert fake.access_token not in str(caught.value)
    assert "***" in str(caught.value)


async def test_no_call_is_sent_without_a_session(fake: FakeKite) -> None:
    settings = settings_for(fake, access_token=None)
    async with KiteClient(settings, limits=unhurried()) as kite:
        with pytest.raises(AuthenticationFailed, match="not logged in"):
            await kite.orders()
    assert fake.requests == []


# -- writes without a clear answer -------------------------------------------------------------


async def test_a_place_whose_answer_times_out_is_outcome_unknown_and_found_by_tag(
    fake: FakeKite,
) -> None:
    async with KiteClient(settings_for(fake, timeout_s=0.2), limits=unhurried()) as kite:
        fake.delay_next(5.0)
        with pytest.raises(OutcomeUnknown, match="order book"):
            await place(kite)

        assert len(fake.of("POST", "/orders")) == 1
        mine = [o for o in await kite.orders() if o["tag"] == TAG]
        assert len(mine) == 1
        assert order_report(mine[0], "z1").status is OrderStatus.OPEN


async def test_a_5xx_after_kite_took_the_order_is_outcome_unknown(
    fake: FakeKite, kite: KiteClient
) -> None:
    fake.fail_next(502, "NetworkException", "Bad gateway.", after=True)
    with pytest.raises(OutcomeUnknown):
        await place(kite)
    assert len(fake.by_tag(TAG)) == 1


async def test_a_429_on_place_is_unavailable_and_never_retried(
    fake: FakeKite, kite: KiteClient
) -> None:
    fake.rate_limit_next(1)
    with pytest.raises(BrokerUnavailable, match="not retried") as caught:
        await place(kite)
    assert type(caught.value) is BrokerUnavailable
    assert len(fake.of("POST", "/orders")) == 1
    assert fake.orders == {}


async def test_an_unreachable_kite_is_unavailable_for_a_write(fake: FakeKite) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with KiteClient(settings_for(fake, api_url=closed), limits=unhurried()) as kite:
        with pytest.raises(BrokerUnavailable, match="could not reach"):
            await place(kite)


def transport_raising(error: Exception) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("error", "write", "expected"),
    [
        (httpx.ReadError("connection reset"), WRITE, OutcomeUnknown),
        (httpx.RemoteProtocolError("server disconnected"), WRITE, OutcomeUnknown),
        (httpx.WriteTimeout("timed out"), WRITE, OutcomeUnknown),
        (httpx.DecodingError("bad gzip"), WRITE, OutcomeUnknown),
        (httpx.ReadError("connection reset"), READ, BrokerUnavailable),
        (httpx.ReadTimeout("timed out"), READ, BrokerUnavailable),
        (httpx.ConnectError("refused"), WRITE, BrokerUnavailable),
        (httpx.ConnectTimeout("timed out"), WRITE, BrokerUnavailable),
    ],
)
async def test_a_transport_failure_maps_by_whether_the_write_may_have_landed(
    fake: FakeKite, error: Exception, write: bool, expected: type[BrokerError]
) -> None:
    transport = transport_raising(error)
    async with KiteClient(settings_for(fake), limits=unhurried(), transport=transport) as kite:
        with pytest.raises(BrokerError) as caught:
            await (place(kite) if write else kite.orders())
    assert type(caught.value) is expected


@pytest.mark.parametrize(
    ("response", "write", "expected"),
    [
        (httpx.Response(200, text="<html>proxy</html>"), WRITE, OutcomeUnknown),
        (httpx.Response(200, json={"status": "success", "data": {}}), WRITE, OutcomeUnknown),
        (httpx.Response(200, json={"status": "success"}), READ, BrokerUnavailable),
        (httpx.Response(429, text="Too many requests"), WRITE, BrokerUnavailable),
    ],
)
async def test_an_answer_that_is_not_kites_envelope_is_never_success(
    fake: FakeKite, response: httpx.Response, write: bool, expected: type[BrokerError]
) -> None:
    transport = httpx.MockTransport(lambda request: response)
    async with KiteClient(settings_for(fake), limits=unhurried(), transport=transport) as kite:
        with pytest.raises(BrokerError) as caught:
            await (place(kite) if write else kite.orders())
    assert type(caught.value) is expected
