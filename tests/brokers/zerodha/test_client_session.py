"""``KiteClient`` against the fake Kite server: pacing of requests, login and logout, and the
settings."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import pytest
from pydantic import SecretStr

from brokers.zerodha.client import KiteClient
from brokers.zerodha.config import ZerodhaSettings, validate_settings
from brokers.zerodha.limits import KiteLimits, RateLimiter
from core.broker import RateLimit
from core.domain.errors import (
    AuthenticationFailed,
    ConfigError,
)
from tests.brokers.zerodha.kite_support import (
    place,
    settings_for,
    unhurried,
)
from tests.fakes.kite import FakeKite

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
