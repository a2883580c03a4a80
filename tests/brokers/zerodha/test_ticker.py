"""The Kite ticker client against the fake ticker over loopback: the messages Kite expects, binary
frames to exact ticks, heartbeats, order updates, garbage, a dead login, drops and reconnects, a
silent socket, and splitting a subscription over Kite's three connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import pytest

from brokers.zerodha.frames import KitePacket, Mode
from brokers.zerodha.parsing import order_report
from brokers.zerodha.ticker import (
    SERVER_HEARTBEAT,
    OrderPayload,
    connect,
    decode_binary,
    decode_text,
)
from brokers.zerodha.ticks import KiteStreams
from core.broker import OrderUpdate
from core.clock import ManualClock
from core.errors import AuthenticationFailed, BrokerRejected, BrokerUnavailable, NotFound
from core.models import Heartbeat, InstrumentId, OrderStatus, Tick
from tests.fakes.kite_ticker import FakeKiteTicker, encode_frame, encode_packet

T = TypeVar("T")

INFY = InstrumentId("NSE", "INFY")
USDINR = InstrumentId("CDS", "USDINR26JANFUT")  # segment 3: prices / 10,000,000
EURINR = InstrumentId("BCD", "EURINR26JANFUT")  # segment 6: prices / 10,000
NIFTY = InstrumentId("NSE", "NIFTY")  # segment 9: the index layout
TOKENS = {INFY: 408065, USDINR: 412675, EURINR: 1612 << 8 | 6, NIFTY: 256265}
ORDER: dict[str, Any] = {
    "order_id": "260105000000001", "exchange_order_id": "1300000001", "status": "COMPLETE",
    "status_message": None, "exchange": "NSE", "tradingsymbol": "INFY",
    "instrument_token": 408065, "order_type": "LIMIT", "transaction_type": "BUY",
    "product": "CNC", "validity": "DAY", "quantity": 10, "filled_quantity": 10,
    "pending_quantity": 0, "price": 1500.5, "trigger_price": 0, "average_price": 1500.5,
    "order_timestamp": "2026-01-05 09:15:02", "exchange_timestamp": "2026-01-05 09:15:02",
    "tag": "pd0123456789abcdef", "user_id": "AB1234", "unfilled_quantity": 0,
}  # fmt: skip


class Tokens:
    """A day's token map, as ``InstrumentIndex`` answers it."""

    def __init__(self, table: dict[InstrumentId, int]) -> None:
        self.table = table

    def token(self, instrument: InstrumentId) -> int:
        try:
            return self.table[instrument]
        except KeyError:
            raise NotFound(f"Kite does not list {instrument} today") from None


def many(count: int) -> dict[InstrumentId, int]:
    return {InstrumentId("NSE", f"S{n}"): (n + 1) << 8 | 1 for n in range(count)}


class Reader(Generic[T]):
    """Reads a stream in the background, so a test can act on the fake while the stream waits."""

    def __init__(self, stream: AsyncIterator[T]) -> None:
        self.stream = stream
        self.items: asyncio.Queue[T | BaseException | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for item in self.stream:
                await self.items.put(item)
        except Exception as err:
            await self.items.put(err)
        else:
            await self.items.put(None)

    async def next(self, kind: type[Any] = object, timeout_s: float = 2.0) -> Any:
        """The next item of ``kind`` (others skipped); the stream's error is raised here."""
        async with asyncio.timeout(timeout_s):
            while True:
                item = await self.items.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    raise StopAsyncIteration
                if isinstance(item, kind):
                    return item

    async def outcome(self, timeout_s: float = 2.0) -> BaseException | None:
        """How the stream ended: its error, or ``None`` when it simply ended."""
        async with asyncio.timeout(timeout_s):
            while True:
                item = await self.items.get()
                if item is None or isinstance(item, BaseException):
                    return item

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def fake() -> AsyncIterator[FakeKiteTicker]:
    async with FakeKiteTicker(heartbeat_s=0.2) as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 4, 0, tzinfo=UTC))


@pytest.fixture
async def streams(fake: FakeKiteTicker, clock: ManualClock) -> AsyncIterator[KiteStreams]:
    async with streams_for(fake, clock, TOKENS) as kite:
        yield kite


def streams_for(
    fake: FakeKiteTicker, clock: ManualClock, table: dict[InstrumentId, int], **kw: Any
) -> KiteStreams:
    async def load() -> Tokens:
        return Tokens(table)

    return KiteStreams(
        fake.url, fake.api_key, lambda: fake.access_token, load, "z1", clock=clock, **kw
    )


async def ticking(
    streams: KiteStreams, fake: FakeKiteTicker, instruments: Iterable[InstrumentId]
) -> Reader[Tick | Heartbeat]:
    """A tick stream, once the fake has its whole subscription."""
    wanted = list(instruments)
    reader = Reader(streams.ticks(wanted))
    await fake.until(lambda: fake.subscribed(*(TOKENS.get(i, 0) for i in wanted)))
    return reader


# -- one connection --------------------------------------------------------------------------


async def test_connect_sends_kites_query_and_version_header(fake: FakeKiteTicker) -> None:
    async with await connect(fake.url, fake.api_key, fake.access_token):
        await fake.until(lambda: fake.connections == 1)

    [handshake] = fake.handshakes
    assert handshake.query == {"api_key": "fakekey", "access_token": fake.access_token}
    assert handshake.headers["X-Kite-Version"] == "3"
    assert handshake.status == 101


async def test_subscribe_sends_subscribe_then_mode_exactly_as_kite_expects(
    fake: FakeKiteTicker,
) -> None:
    async with await connect(fake.url, fake.api_key, fake.access_token) as ticker:
        await ticker.subscribe([408065, 412675], Mode.FULL)
        await ticker.set_mode([412675], Mode.LTP)
        await ticker.unsubscribe([408065])
        await fake.until(lambda: len(fake.messages) == 4)

        assert fake.messages == [
            {"a": "subscribe", "v": [408065, 412675]},
            {"a": "mode", "v": ["full", [408065, 412675]]},
            {"a": "mode", "v": ["ltp", [412675]]},
            {"a": "unsubscribe", "v": [408065]},
        ]
        assert dict(ticker.subscriptions) == {412675: Mode.LTP}


async def test_a_connection_refuses_more_than_3000_tokens_before_sending(
    fake: FakeKiteTicker,
) -> None:
    async with await connect(fake.url, fake.api_key, fake.access_token) as ticker:
        await ticker.subscribe(range(1, 3001))
        with pytest.raises(BrokerRejected, match="3000"):
            await ticker.subscribe([5000])
        await fake.until(lambda: len(fake.messages) == 2)
    assert len(fake.handshakes) == 1


async def test_a_dead_token_fails_the_upgrade_with_authentication_failed(
    fake: FakeKiteTicker,
) -> None:
    fake.expire_token()

    with pytest.raises(AuthenticationFailed) as caught:
        await connect(fake.url, fake.api_key, fake.access_token)

    assert fake.handshakes[0].status == 403
    assert fake.access_token not in str(caught.value)


async def test_a_fourth_connection_is_refused_as_unavailable(fake: FakeKiteTicker) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            await stack.enter_async_context(
                await connect(fake.url, fake.api_key, fake.access_token)
            )
        with pytest.raises(BrokerUnavailable, match="429") as caught:
            await connect(fake.url, fake.api_key, fake.access_token)
    assert caught.value.retryable
    assert [h.status for h in fake.handshakes] == [101, 101, 101, 429]


async def test_the_websocket_debug_log_hides_the_access_token(
    fake: FakeKiteTicker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "brokers.zerodha.ticker")
    async with await connect(fake.url, fake.api_key, fake.access_token):
        pass

    assert "access_token=***" in caplog.text  # the request line was logged...
    assert fake.access_token not in caplog.text  # ...without the token


async def test_nothing_listening_is_unavailable_without_the_token(fake: FakeKiteTicker) -> None:
    port = fake.port
    await fake.stop()

    with pytest.raises(BrokerUnavailable) as caught:
        await connect(f"ws://127.0.0.1:{port}", "fakekey", "secret-token", open_timeout_s=1)
    assert "secret-token" not in str(caught.value)


def test_frames_decode_to_packets_heartbeats_and_order_payloads() -> None:
    [packet] = decode_binary(encode_frame(encode_packet(408065, "1500.05", "ltp")))
    assert isinstance(packet, KitePacket)
    assert (packet.instrument_token, packet.last_price) == (408065, Decimal("1500.05"))
    assert decode_binary(b"\x00") == [SERVER_HEARTBEAT]
    assert decode_binary(b"\x00\x03\x00") == []  # truncated: logged, skipped
    assert decode_text('{"type":"order","data":{"order_id":"1"}}') == OrderPayload(
        {"order_id": "1"}
    )
    assert decode_text('{"type":"order","data":null}') is None
    assert decode_text('{"type":"message","data":"Market closes early"}') is None


# -- ticks --------------------------------------------------------------------------------------


async def test_ticks_carry_the_instrument_and_exact_prices_of_every_segment(
    fake: FakeKiteTicker, streams: KiteStreams, clock: ManualClock
) -> None:
    reader = await ticking(streams, fake, [INFY, USDINR, EURINR, NIFTY])

    await fake.push_ticks(TOKENS[INFY], "1500.05", volume=1234)
    await fake.push_ticks(TOKENS[USDINR], "83.2512375")
    await fake.push_ticks(TOKENS[EURINR], "90.1234")
    await fake.push_ticks(TOKENS[NIFTY], "24012.35", close="23900")

    ticks = [await reader.next(Tick) for _ in range(4)]
    assert ticks == [
        Tick(INFY, Decimal("1500.05"), clock.now(), volume=1234),
        Tick(USDINR, Decimal("83.2512375"), clock.now(), volume=0),
        Tick(EURINR, Decimal("90.1234"), clock.now(), volume=0),
        Tick(NIFTY, Decimal("24012.35"), clock.now()),
    ]
    assert str(ticks[1].last_price) == "83.2512375"
    await reader.stop()


async def test_the_subscription_asks_for_the_streams_mode(
    fake: FakeKiteTicker, clock: ManualClock
) -> None:
    async with streams_for(fake, clock, TOKENS, mode=Mode.FULL) as streams:
        reader = await ticking(streams, fake, [INFY, USDINR])

        assert fake.messages == [
            {"a": "subscribe", "v": [408065, 412675]},
            {"a": "mode", "v": ["full", [408065, 412675]]},
        ]
        await reader.stop()


async def test_a_full_packet_is_stamped_with_the_exchange_time(
    fake: FakeKiteTicker, clock: ManualClock
) -> None:
    async with streams_for(fake, clock, TOKENS, mode=Mode.FULL) as streams:
        reader = await ticking(streams, fake, [INFY])
        await fake.push_ticks(TOKENS[INFY], "1501", exchange_timestamp=1767585600)

        tick = await reader.next(Tick)
        assert tick.time == datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
        assert tick.time.tzinfo is not None
        await reader.stop()


async def test_a_packet_without_a_price_is_not_a_tick(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    reader = await ticking(streams, fake, [INFY])
    await fake.push_ticks(TOKENS[INFY], 0)
    await fake.push_ticks(TOKENS[INFY], "1499.9")

    assert (await reader.next(Tick)).last_price == Decimal("1499.9")
    await reader.stop()


async def test_a_server_heartbeat_is_a_heartbeat(
    fake: FakeKiteTicker, streams: KiteStreams, clock: ManualClock
) -> None:
    reader = await ticking(streams, fake, [INFY])
    await fake.heartbeat()

    assert await reader.next() == Heartbeat(clock.now())
    await reader.stop()


async def test_garbage_is_logged_and_skipped_and_the_stream_goes_on(
    fake: FakeKiteTicker, streams: KiteStreams, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "brokers.zerodha.ticker")
    reader = await ticking(streams, fake, [INFY])

    await fake.push_garbage(b"\x00\x02\x00\x08\x00\x06")  # claims two packets, holds half of one
    await fake.push_garbage(b"\x00\x01\x00\x05hello")  # a packet of no known length
    await fake.push_garbage("{not json")
    await fake.push_garbage("[1, 2]")
    await fake.push_garbage('{"type": "surprise"}')
    await fake.push_error("Can't subscribe to more than 3000 instruments.")
    await fake.push_ticks(TOKENS[INFY], "1500.5")

    assert (await reader.next(Tick)).last_price == Decimal("1500.5")
    logged = caplog.text
    assert "malformed" in logged
    assert "not JSON" in logged
    assert "not an object" in logged
    assert "Can't subscribe" in logged
    await reader.stop()


async def test_an_unknown_instrument_is_refused_before_connecting(
    fake: FakeKiteTicker, streams: KiteStreams
) -> None:
    with pytest.raises(NotFound):
        await anext(streams.ticks([InstrumentId("NSE", "NOPE")]))
    assert fake.handshakes == []


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
