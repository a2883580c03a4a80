"""``KiteClient`` against the fake Kite server over loopback: the wire format, every error
mapping, writes that time out or are rate limited, pacing, login and logout; and the settings."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from brokers.zerodha.client import KiteClient
from brokers.zerodha.config import ZerodhaSettings, validate_settings
from brokers.zerodha.errors import error_from_response
from brokers.zerodha.instruments import InstrumentIndex
from brokers.zerodha.limits import KiteLimits, RateLimiter
from brokers.zerodha.parsing import order_params, order_report
from core.broker import RateLimit
from core.errors import (
    AuthenticationFailed,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    ConfigError,
    NotFound,
    OutcomeUnknown,
)
from core.models import InstrumentId, OrderRequest, OrderStatus, OrderType, Side
from tests.fakes.kite import FakeKite

TAG = "pd0123456789abcdef"
INFY = InstrumentId("NSE", "INFY")
FORM_SETTINGS = ZerodhaSettings(api_key="fakekey", api_secret=SecretStr("fakesecret"))
LIMIT_BUY = OrderRequest("z1", INFY, Side.BUY, 10, OrderType.LIMIT, price=Decimal("1500.5"))


def settings_for(fake: FakeKite, **changes: Any) -> ZerodhaSettings:
    fields: dict[str, Any] = {
        "api_key": fake.api_key,
        "api_secret": SecretStr(fake.api_secret),
        "access_token": SecretStr(fake.access_token),
        "api_url": fake.api_url,
        "timeout_s": 2.0,
    }
    return ZerodhaSettings(**(fields | changes))


def unhurried() -> KiteLimits:
    """Limits that never make a test wait."""
    return KiteLimits.per_account(10_000, 10_000)


@pytest.fixture
async def fake() -> AsyncIterator[FakeKite]:
    async with FakeKite() as server:
        yield server


@pytest.fixture
async def kite(fake: FakeKite) -> AsyncIterator[KiteClient]:
    async with KiteClient(settings_for(fake), limits=unhurried()) as client:
        yield client


async def place(kite: KiteClient, request: OrderRequest = LIMIT_BUY, tag: str = TAG) -> str:
    """Place ``request`` the way the broker will: the form from ``order_params``."""
    return await kite.place_order("regular", order_params(request, tag, FORM_SETTINGS))


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


# -- pacing ------------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def starts_of(limiter: RateLimiter, count: int, time: FakeTime) -> list[float]:
    starts = []
    for _ in range(count):
        await limiter.acquire()
        starts.append(round(time.now - 100.0, 6))
    return starts


async def test_the_limiter_allows_n_starts_in_any_window() -> None:
    time = FakeTime()
    limiter = RateLimiter(RateLimit(10, 1.0), clock=time.clock, sleep=time.sleep)
    starts = await starts_of(limiter, 25, time)
    assert starts == [0.0] * 10 + [1.0] * 10 + [2.0] * 5


async def test_the_limiter_honours_every_window_it_has() -> None:
    time = FakeTime()
    limits = (RateLimit(2, 1.0), RateLimit(3, 10.0))
    limiter = RateLimiter(*limits, clock=time.clock, sleep=time.sleep)
    assert await starts_of(limiter, 5, time) == [0.0, 0.0, 1.0, 10.0, 10.0]


async def test_concurrent_callers_are_paced_too() -> None:
    time = FakeTime()
    limiter = RateLimiter(RateLimit(2, 1.0), clock=time.clock, sleep=time.sleep)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(time.now - 100.0)

    await asyncio.gather(*(one() for _ in range(6)))
    assert sorted(starts) == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]


async def test_orders_beyond_the_rate_wait_and_all_reach_kite(fake: FakeKite) -> None:
    time = FakeTime()
    limits = KiteLimits.per_account(10, 1, clock=time.clock, sleep=time.sleep)
    async with KiteClient(settings_for(fake), limits=limits) as kite:
        for _ in range(12):
            await place(kite)
    assert len(fake.of("POST", "/orders")) == 12
    assert time.now - 100.0 >= 1.0  # the 11th order waited for the window to move on
    assert sum(time.sleeps) >= 1.0


async def test_quotes_have_their_own_slower_limiter(fake: FakeKite) -> None:
    time = FakeTime()
    limits = KiteLimits.per_account(10, 1, clock=time.clock, sleep=time.sleep)
    async with KiteClient(settings_for(fake), limits=limits) as kite:
        await kite.ltp(["NSE:INFY"])
        await kite.orders()  # another class of request: no wait
        assert time.sleeps == []
        await kite.quote(["NSE:INFY"])
    assert sum(time.sleeps) >= 1.0


# -- login and logout --------------------------------------------------------------------------


async def test_generate_session_sends_the_checksum_and_uses_the_new_token(fake: FakeKite) -> None:
    async with KiteClient(settings_for(fake, access_token=None), limits=unhurried()) as kite:
        session = await kite.generate_session("fake-request-token")
        profile = await kite.profile()

    [login] = fake.of("POST", "/session/token")
    expected = hashlib.sha256(b"fakekey" + b"fake-request-token" + b"fakesecret").hexdigest()
    assert login.form == {
        "api_key": "fakekey",
        "request_token": "fake-request-token",
        "checksum": expected,
    }
    assert "Authorization" not in login.headers
    assert session.access_token == fake.access_token
    assert session.user_id == profile["user_id"] == "AB1234"
    assert session.login_time is not None and session.login_time.tzinfo is not None
    assert fake.access_token not in repr(session)


async def test_a_used_request_token_fails_the_login(fake: FakeKite) -> None:
    fake.request_tokens.clear()
    async with KiteClient(settings_for(fake, access_token=None), limits=unhurried()) as kite:
        with pytest.raises(AuthenticationFailed) as caught:
            await kite.generate_session("fake-request-token")
    assert "fakesecret" not in str(caught.value)
    assert not kite.has_session


async def test_logout_kills_the_token_and_keeps_it_out_of_the_log(
    fake: FakeKite, kite: KiteClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = fake.access_token
    with caplog.at_level(logging.DEBUG):
        await kite.invalidate()
    [logout] = fake.of("DELETE", "/session/token")
    assert dict(logout.query) == {"api_key": "fakekey", "access_token": token}
    assert not kite.has_session
    assert "/session/token" in caplog.text  # httpx did log the call ...
    assert token not in caplog.text  # ... with the token blanked


async def test_the_login_url_names_the_app() -> None:
    settings = ZerodhaSettings(api_key="abc123", api_secret=SecretStr("s"))
    async with KiteClient(settings) as kite:
        assert kite.login_url() == "https://kite.zerodha.com/connect/login?api_key=abc123&v=3"


# -- settings ----------------------------------------------------------------------------------


def test_settings_default_to_kites_endpoints_and_limits() -> None:
    raw = validate_settings({"api_key": "abc123", "api_secret": "topsecret"})
    settings = ZerodhaSettings.model_validate(dict(raw))
    assert (settings.api_url, settings.default_exchange) == ("https://api.kite.trade", "NSE")
    assert (settings.order_rate_per_s, settings.quote_rate_per_s) == (10, 1)
    assert (settings.market_protection, settings.timeout_s) == (-1, 7.0)
    assert "topsecret" not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"market_protection": 0}, "market_protection"),
        ({"market_protection": 101}, "market_protection"),
        ({"order_rate_per_s": 11}, "order_rate_per_s"),
        ({"default_exchange": "NYSE"}, "default_exchange"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"api_url": "ftp://x"}, "api_url"),
        ({"api_key": "has space"}, "api_key"),
        ({"api_secret": ""}, "api_secret"),
        ({"api_secret": 12345678}, "api_secret"),
        ({"access_token": "   "}, "access_token"),
        ({"password": "topsecret"}, "password"),
    ],
)
def test_a_bad_setting_is_named_and_no_secret_is_echoed(changes: dict[str, Any], key: str) -> None:
    raw = {"api_key": "abc123", "api_secret": "topsecret", "access_token": "tok3n"} | changes
    with pytest.raises(ConfigError) as caught:
        validate_settings(raw)
    text = str(caught.value)
    assert text.startswith(f"{key}:")
    for secret in ("topsecret", "tok3n", "12345678"):
        assert secret not in text


def test_missing_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="api_key: required; api_secret: required"):
        validate_settings({})
