"""The Kite binary frame parser: hand-built packets and random ones from a reference encoder.

Every frame here is built by the tests themselves (with the reference encoder of this package's
``__init__``). The depth a full packet decodes when read is tested in ``test_frames_depth``, the
agreement with the official client in ``test_frames_oracle``.
"""

from __future__ import annotations

import dataclasses
import decimal
import pickle
import random
import struct
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers.zerodha.frames import (
    PACKET_LENGTHS,
    Depth,
    DepthLevel,
    FrameError,
    KitePacket,
    Mode,
    is_heartbeat,
    parse_frame,
    price_divisor,
    to_datetime,
)
from core.domain.errors import BrokerError
from tests.brokers.zerodha import (
    KINDS,
    SEGMENTS,
    UINT32_MAX,
    WIRE_FIELDS,
    Level,
    RawPacket,
    frame,
    random_packet,
    raw,
    token,
)

# --- hand-built packets ---------------------------------------------------------------------------

RELIANCE = token(1594, 1)  # NSE equity
NIFTY = token(1001, 9)  # an index


def test_an_ltp_packet_carries_the_last_price_and_nothing_else() -> None:
    [packet] = parse_frame(frame(raw("ltp", RELIANCE, 245_010).encode()))

    assert packet == KitePacket(RELIANCE, 1, True, Mode.LTP, Decimal("2450.10"))
    assert packet.close is None and packet.change_pct is None and packet.depth is None


def test_a_quote_packet_reads_quantities_and_ohlc_in_the_tradable_order() -> None:
    values = (245_010, 15, 244_875, 1_203_400, 81_000, 95_500, 243_000, 246_005, 242_550, 244_000)

    [packet] = parse_frame(frame(raw("quote", RELIANCE, *values).encode()))

    assert packet == KitePacket(
        instrument_token=RELIANCE,
        segment=1,
        tradable=True,
        mode=Mode.QUOTE,
        last_price=Decimal("2450.10"),
        last_traded_quantity=15,
        average_traded_price=Decimal("2448.75"),
        volume_traded=1_203_400,
        total_buy_quantity=81_000,
        total_sell_quantity=95_500,
        open=Decimal("2430.00"),
        high=Decimal("2460.05"),
        low=Decimal("2425.50"),
        close=Decimal("2440.00"),
    )
    # (2450.10 - 2440.00) * 100 / 2440.00, a percentage like the official client's "change"
    assert packet.change_pct == Decimal("1010") / Decimal("2440")
    assert packet.last_trade_time is None and packet.depth is None


def test_a_full_packet_adds_timestamps_open_interest_and_five_levels_a_side() -> None:
    bids = tuple((100 * n, 245_000 - 5 * n, n) for n in range(1, 6))
    asks = tuple((200 * n, 245_010 + 5 * n, 65_535 - n) for n in range(1, 6))
    quote = (245_010, 15, 244_875, 1_203_400, 81_000, 95_500, 243_000, 246_005, 242_550, 244_000)
    packet_bytes = raw(
        "full", RELIANCE, *quote, 1_700_000_000, 0, 0, 0, 1_700_000_001, depth=bids + asks
    ).encode()

    [packet] = parse_frame(frame(packet_bytes))

    assert packet.mode is Mode.FULL
    assert packet.last_price == Decimal("2450.10") and packet.close == Decimal("2440.00")
    assert (packet.last_trade_time, packet.exchange_timestamp) == (1_700_000_000, 1_700_000_001)
    assert (packet.oi, packet.oi_day_high, packet.oi_day_low) == (0, 0, 0)
    assert packet.depth is not None
    assert packet.depth.buy[0] == DepthLevel(100, Decimal("2449.95"), 1)
    assert packet.depth.buy[4] == DepthLevel(500, Decimal("2449.75"), 5)
    assert packet.depth.sell[0] == DepthLevel(200, Decimal("2450.15"), 65_534)
    assert [level.price for level in packet.depth.sell] == [
        Decimal("2450.15"),
        Decimal("2450.20"),
        Decimal("2450.25"),
        Decimal("2450.30"),
        Decimal("2450.35"),
    ]


def test_a_derivative_full_packet_reports_open_interest() -> None:
    future = token(12_345, 2)  # NFO
    quote = (2_000_000, 50, 1_999_000, 10_000, 500, 600, 1_990_000, 2_010_000, 1_980_000, 2_000_000)
    open_interest = (9_000_000, 9_100_000, 8_900_000)
    depth = ((75, 1_999_995, 3),) * 10
    body = raw("full", future, *quote, 1_700_000_000, *open_interest, 1_700_000_002, depth=depth)

    [packet] = parse_frame(frame(body.encode()))

    assert (packet.oi, packet.oi_day_high, packet.oi_day_low) == (9_000_000, 9_100_000, 8_900_000)
    assert packet.change_pct == 0


def test_an_index_quote_packet_reads_high_low_open_close_in_the_index_order() -> None:
    # last, high, low, open, close, net change: not the tradable packet's open, high, low, close
    packet_bytes = raw(
        "index_quote", NIFTY, 2_210_050, 2_215_000, 2_190_025, 2_195_000, 2_200_000, 1
    )

    [packet] = parse_frame(frame(packet_bytes.encode()))

    assert packet == KitePacket(
        instrument_token=NIFTY,
        segment=9,
        tradable=False,
        mode=Mode.QUOTE,
        last_price=Decimal("22100.50"),
        open=Decimal("21950.00"),
        high=Decimal("22150.00"),
        low=Decimal("21900.25"),
        close=Decimal("22000.00"),
    )
    # the packet's own net change field (1 here) is ignored; the percentage is computed
    assert packet.change_pct == Decimal("10050") / Decimal("22000")
    assert packet.volume_traded is None and packet.exchange_timestamp is None


def test_an_index_full_packet_adds_the_exchange_timestamp_only() -> None:
    packet_bytes = raw("index_full", NIFTY, 2_210_050, 2_215_000, 2_190_025, 2_195_000, 0, 0, 17)

    [packet] = parse_frame(frame(packet_bytes.encode()))

    assert packet.mode is Mode.FULL and not packet.tradable
    assert packet.exchange_timestamp == 17
    assert packet.last_trade_time is None and packet.oi is None and packet.depth is None
    assert packet.change_pct == 0  # the close is 0: no division by zero, as the official client


def test_the_layout_follows_the_length_and_tradable_follows_the_segment() -> None:
    # What the official client does: a 44-byte packet of an index token is read as a quote.
    values = (100, 1, 100, 5, 6, 7, 90, 110, 80, 95)

    [packet] = parse_frame(frame(raw("quote", NIFTY, *values).encode()))

    assert packet.mode is Mode.QUOTE and not packet.tradable
    assert packet.total_buy_quantity == 6 and packet.open == Decimal("0.90")


@pytest.mark.parametrize(
    ("segment", "price"),
    [
        (1, "7275500.00"),  # NSE
        (2, "7275500.00"),  # NFO
        (3, "72.7550000"),  # CDS: 1e7
        (4, "7275500.00"),  # BSE
        (5, "7275500.00"),  # BFO
        (6, "72755.0000"),  # BCD: 1e4
        (7, "7275500.00"),  # MCX
        (8, "7275500.00"),  # MCXSX
        (9, "7275500.00"),  # indices
        (12, "72755.0000"),  # NCO: 1e4
    ],
)
def test_prices_are_divided_by_the_segment_divisor(segment: int, price: str) -> None:
    instrument = token(412_675, segment)
    quote = raw("quote", instrument, 727_550_000, 1, 727_550_000, 1, 1, 1, 1, 1, 1, 727_550_000)

    [packet] = parse_frame(frame(quote.encode()))

    assert packet.segment == segment
    assert packet.last_price == Decimal(price)
    assert str(packet.last_price) == price  # exact, with the feed's own number of places
    assert packet.average_traded_price == packet.close == Decimal(price)
    assert packet.open == Decimal(1) / price_divisor(segment)


def test_a_cds_price_keeps_all_seven_places() -> None:
    [packet] = parse_frame(frame(raw("ltp", token(1, 3), 1).encode()))

    assert packet.last_price == Decimal("0.0000001")


def test_fields_are_unsigned_32_bit() -> None:
    packet_bytes = raw("quote", token(2**24 - 1, 1), *([UINT32_MAX] * 10)).encode()

    [packet] = parse_frame(frame(packet_bytes))

    assert packet.instrument_token == 2**32 - 255
    assert packet.last_price == Decimal("42949672.95")
    assert packet.volume_traded == UINT32_MAX


def test_a_one_byte_frame_is_a_heartbeat_with_no_packets() -> None:
    assert is_heartbeat(b"\x00")
    assert parse_frame(b"\x00") == []
    assert not is_heartbeat(b"\x00\x00") and not is_heartbeat(frame())


def test_an_empty_frame_gives_no_packets() -> None:
    assert parse_frame(b"") == []
    assert parse_frame(frame()) == []


def test_packets_of_unknown_length_are_skipped_and_the_rest_kept_in_order() -> None:
    ltp = raw("ltp", RELIANCE, 100).encode()
    index = raw("index_quote", NIFTY, 1, 2, 3, 4, 5, 6).encode()
    data = frame(b"", ltp, b"abc", bytes(9), index, bytes(100), ltp)

    packets = parse_frame(data)

    assert [(p.instrument_token, p.mode) for p in packets] == [
        (RELIANCE, Mode.LTP),
        (NIFTY, Mode.QUOTE),
        (RELIANCE, Mode.LTP),
    ]


def test_bytes_after_the_counted_packets_are_ignored() -> None:
    data = frame(raw("ltp", RELIANCE, 100).encode()) + b"\x00\x08trailing"

    assert [p.last_price for p in parse_frame(data)] == [Decimal("1.00")]


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01",  # one packet claimed, no length
        b"\x00\x01\x00",  # half a length
        frame(raw("ltp", RELIANCE, 100).encode())[:-1],  # the packet cut short
        b"\x00\x02" + frame(raw("ltp", RELIANCE, 100).encode())[2:],  # two claimed, one held
        b"\x00\x01\x00\xb8" + bytes(183),  # a full packet one byte short
    ],
    ids=["no-length", "half-length", "short-packet", "missing-packet", "short-full"],
)
def test_a_frame_that_claims_more_than_it_holds_raises_frame_error(data: bytes) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(data)

    assert isinstance(caught.value, BrokerError)
    assert not isinstance(caught.value, struct.error)
    assert "claims" in str(caught.value) or "ends before" in str(caught.value)


def test_a_parsed_packet_is_a_genuine_frozen_kite_packet() -> None:
    """The parser builds packets through a mutable twin class; nothing of it may show."""
    data = frame(random_packet(random.Random(7), "full").encode())
    [packet] = parse_frame(data)
    rebuilt = KitePacket(**{f.name: getattr(packet, f.name) for f in dataclasses.fields(packet)})

    assert type(packet) is KitePacket and type(packet.depth) is Depth
    assert packet.depth is not None and type(packet.depth.buy[0]) is DepthLevel
    assert packet == rebuilt and hash(packet) == hash(rebuilt)
    assert pickle.loads(pickle.dumps(packet)) == packet
    assert dataclasses.replace(packet, oi=1).oi == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        packet.last_price = Decimal(0)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        packet.depth.buy[0].orders = 0  # type: ignore[misc]


def test_prices_and_change_do_not_depend_on_the_callers_decimal_context() -> None:
    # last 429.4967295 and close 0.0000003 (CDS): 10 digits, then a 28-digit change
    data = frame(raw("quote", token(1, 3), UINT32_MAX, *([1] * 8), 3).encode())
    with decimal.localcontext(decimal.Context(prec=3)):
        [packet] = parse_frame(data)
        change = packet.change_pct

    assert packet.last_price == Decimal("429.4967295") and packet.close == Decimal("3E-7")
    assert change == (Decimal("429.4967295") - Decimal("3E-7")) * 100 / Decimal("3E-7")


def test_parsing_leaves_the_callers_decimal_context_in_place_even_on_a_bad_frame() -> None:
    """The parser sets an exact context of its own while it parses; the caller's comes back."""
    good = frame(raw("quote", RELIANCE, *range(1, 11)).encode())
    bad = b"\x00\x02" + good[2:]  # two packets claimed, one held
    with decimal.localcontext(decimal.Context(prec=3)) as caller:
        parse_frame(good)
        assert decimal.getcontext() is caller
        with pytest.raises(FrameError):
            parse_frame(bad)
        assert decimal.getcontext() is caller

    assert caller.prec == 3 and not any(caller.flags.values())


def test_timestamps_become_aware_utc_datetimes() -> None:
    assert to_datetime(1_700_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_packet_lengths_are_the_five_known_kinds() -> None:
    assert PACKET_LENGTHS == {8, 28, 32, 44, 184}


# --- property: random frames round-trip against the reference encoder -----------------------------

uint32 = st.one_of(st.sampled_from([0, 1, UINT32_MAX]), st.integers(0, UINT32_MAX))
tokens = st.builds(token, st.integers(0, 2**24 - 1), st.sampled_from(SEGMENTS))


@st.composite
def raw_packets(draw: st.DrawFn) -> RawPacket:
    kind = draw(st.sampled_from(KINDS))
    values = {name: draw(uint32) for name in WIRE_FIELDS[kind]}
    depth: tuple[Level, ...] = ()
    if kind == "full":
        level = st.tuples(uint32, uint32, st.integers(0, 2**16 - 1))
        depth = tuple(draw(st.lists(level, min_size=10, max_size=10)))
    return RawPacket(kind, draw(tokens), values, depth)


junk_packets = st.integers(0, 300).filter(lambda n: n not in PACKET_LENGTHS).map(bytes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(raw_packets(), junk_packets), max_size=8))
def test_random_frames_parse_to_what_the_reference_encoder_put_in(
    packets: list[RawPacket | bytes],
) -> None:
    data = frame(*(p.encode() if isinstance(p, RawPacket) else p for p in packets))

    expected = [p.expected() for p in packets if isinstance(p, RawPacket)]

    assert parse_frame(data) == expected
