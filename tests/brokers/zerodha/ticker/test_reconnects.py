"""Failures and reconnects, order updates on the ticker, and Kite's limits of 3,000 instruments per
connection and three connections."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.zerodha.parsing import order_report
from brokers.zerodha.ticks import KiteStreams
from core.broker import OrderUpdate
from core.domain.clock import ManualClock
from core.domain.errors import AuthenticationFailed, BrokerRejected, BrokerUnavailable
from core.domain.models import InstrumentId, OrderStatus, Tick
from tests.brokers.zerodha.ticker.support import (
    INFY,
    ORDER,
    TOKENS,
    USDINR,
    Reader,
    Tokens,
    many,
    streams_for,
    ticking,
)
from tests.fakes.kite_ticker import FakeKiteTicker

# -- failures and reconnects -----------------------------------------------------------------


async def test_a_dead_login_ends_the_tick_stream_with_authentication_failed(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    fake.expire_token()

    with pytest.raises(AuthenticationFailed):
        await anext(streams.ticks([INFY]))
    with pytest.raises(AuthenticationFailed):
        await anext(streams.order_updates())


async def test_no_access_token_is_authentication_failed_without_connecting(
    fake: FakeKiteTicker, clock: ManualClock
) -> None:
    async def load() -> Tokens:
        return Tokens(TOKENS)

    async with KiteStreams(fake.url, fake.api_key, lambda: None, load, "z1") as streams:
        with pytest.raises(AuthenticationFailed, match="log in"):
            await anext(streams.ticks([INFY]))
    assert fake.handshakes == []


@pytest.mark.parametrize("clean", [False, True], ids=["cut", "closed"])
async def test_a_drop_raises_unavailable_and_the_next_call_reconnects(
    fake: FakeKiteTicker, streams: KiteStreams, clean: bool
) -> None:
    reader = await ticking(streams, fake, [INFY])
    await fake.drop(clean=clean)

    error = await reader.outcome()
    assert isinstance(error, BrokerUnavailable)
    assert streams.connections == 0

    again = await ticking(streams, fake, [INFY])
    await fake.push_ticks(TOKENS[INFY], "1502")
    assert (await again.next(Tick)).last_price == Decimal("1502")
    assert fake.accepted == 2
    await again.stop()


async def test_a_silent_socket_yields_nothing(fake: FakeKiteTicker, streams: KiteStreams) -> None:
    fake.go_silent()
    reader = await ticking(streams, fake, [INFY])
    await fake.push_ticks(TOKENS[INFY], "1500")

    with pytest.raises(TimeoutError):
        await reader.next(timeout_s=0.5)
    assert fake.connections == 1  # open, and still answering pings: only a watchdog can tell
    await reader.stop()


async def test_closing_a_tick_stream_closes_its_connection(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    reader = await ticking(streams, fake, [INFY])
    await reader.stop()

    await fake.until(lambda: fake.connections == 0)
    assert streams.connections == 0


async def test_a_new_tick_stream_ends_the_previous_one(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    first = await ticking(streams, fake, [INFY])
    second = await ticking(streams, fake, [USDINR])

    assert await first.outcome() is None
    await fake.until(lambda: not fake.subscribed(TOKENS[INFY]))
    assert fake.connections == 1
    await second.stop()


# -- order updates --------------------------------------------------------------------------


async def test_an_order_text_frame_is_an_order_payload(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    reader = Reader(streams.order_updates())
    await fake.until(lambda: fake.connections == 1)
    await fake.push_order(ORDER)

    payload = await reader.next()
    assert payload == ORDER
    update = OrderUpdate(order_report(payload, "z1"))  # what the broker makes of it
    assert update.report.status is OrderStatus.FILLED
    assert update.report.client_order_id == ORDER["tag"]
    assert fake.messages == []  # order updates need no subscription
    await reader.stop()


async def test_order_updates_share_the_first_connection_with_ticks(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    orders = Reader(streams.order_updates())
    await fake.until(lambda: fake.connections == 1)
    ticks = await ticking(streams, fake, [INFY])
    assert fake.connections == 1

    await fake.push_order(ORDER)
    await fake.push_ticks(TOKENS[INFY], "1500")
    assert await orders.next() == ORDER
    assert (await ticks.next(Tick)).instrument == INFY

    await ticks.stop()  # the order stream keeps the connection, without the subscription
    await fake.until(lambda: not fake.subscribed(TOKENS[INFY]))
    await fake.push_order(ORDER)
    assert await orders.next() == ORDER
    assert fake.connections == 1
    await orders.stop()


async def test_a_drop_ends_the_order_stream_with_unavailable(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    orders = Reader(streams.order_updates())
    await fake.until(lambda: fake.connections == 1)
    await fake.drop()

    assert isinstance(await orders.outcome(), BrokerUnavailable)


# -- Kite's limits --------------------------------------------------------------------------


async def test_more_than_3000_instruments_take_two_connections(
    fake: FakeKiteTicker, clock: ManualClock
) -> None:
    table = many(3001)
    async with streams_for(fake, clock, table) as streams:
        reader = Reader(streams.ticks(table))
        await fake.until(lambda: fake.subscribed(*table.values()))

        assert sorted(len(c.modes) for c in fake.open) == [1, 3000]
        last = max(table.values())
        await fake.push_ticks(last, "10.5")
        assert (await reader.next(Tick)).instrument == InstrumentId("NSE", "S3000")
        await reader.stop()
    await fake.until(lambda: fake.connections == 0)


async def test_9000_instruments_and_order_updates_fit_in_three_connections(
    fake: FakeKiteTicker, clock: ManualClock
) -> None:
    table = many(9000)
    async with streams_for(fake, clock, table) as streams:
        orders = Reader(streams.order_updates())
        await fake.until(lambda: fake.connections == 1)
        ticks = Reader(streams.ticks(table))
        await fake.until(lambda: fake.subscribed(*table.values()))

        assert sorted(len(c.modes) for c in fake.open) == [3000, 3000, 3000]
        assert [h.status for h in fake.handshakes] == [101, 101, 101]
        await fake.push_order(ORDER)
        assert await orders.next() == ORDER
        await ticks.stop()
        await orders.stop()


async def test_more_than_9000_instruments_are_refused_without_connecting(
    fake: FakeKiteTicker, clock: ManualClock
) -> None:
    table = many(9001)
    async with streams_for(fake, clock, table) as streams:
        with pytest.raises(BrokerRejected, match="9000"):
            await anext(streams.ticks(table))
    assert fake.handshakes == []
