"""One connection to the fake ticker: the messages Kite expects, binary frames to exact ticks,
heartbeats and garbage."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokers.zerodha.frames import KitePacket, Mode
from brokers.zerodha.ticker import (
    SERVER_HEARTBEAT,
    OrderPayload,
    connect,
    decode_binary,
    decode_text,
)
from brokers.zerodha.ticks import KiteStreams
from core.domain.clock import ManualClock
from core.domain.errors import AuthenticationFailed, BrokerRejected, BrokerUnavailable, NotFound
from core.domain.models import Heartbeat, InstrumentId, Tick
from tests.brokers.zerodha.ticker.support import (
    EURINR,
    INFY,
    NIFTY,
    TOKENS,
    USDINR,
    streams_for,
    ticking,
)
from tests.fakes.kite_ticker import FakeKiteTicker, encode_frame, encode_packet

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
