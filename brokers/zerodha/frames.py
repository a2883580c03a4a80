"""The Kite ticker's binary frames: a pure parser, bytes in, exact ``KitePacket`` values out.

A binary frame is big-endian: a uint16 packet count, then for each packet a uint16 length and the
packet itself. The length says what the packet is (``PACKET_LENGTHS``); every field is an unsigned
32-bit integer, and prices are integers to be divided by the segment's divisor
(``price_divisor``). A 1-byte frame is the server's heartbeat. The layouts, and how they were
checked against the official client, are in the project's research notes on Kite (section 4).

The ticker client hands each binary WebSocket message to ``parse_frame``; this module does no
I/O. It is tested field by field against the official client's parser (tests/brokers/zerodha).

Speed matters here (an expiry-day burst is thousands of packets a second, in pure Python), and two
things dominate: building the packet objects and building the Decimals. So packets are built as
mutable twins of their frozen classes and then relabelled (``_draft_class``), prices are built
with the Decimal operators under an exact context set for the whole frame, and a full packet's
market depth (ten more objects and ten more prices) is decoded only when first read. ``make
bench`` compares this parser with the official one (bench/kite.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal, getcontext, setcontext
from enum import StrEnum
from typing import Any

from core.domain.errors import BrokerError

SEGMENT_INDICES = 9
SEGMENT_CDS = 3
SEGMENT_BCD = 6
SEGMENT_NCO = 12
DEFAULT_PRICE_DIVISOR = 100
PRICE_DIVISORS = {SEGMENT_CDS: 10_000_000, SEGMENT_BCD: 10_000, SEGMENT_NCO: 10_000}


class Mode(StrEnum):
    """How much a subscription streams; the packet length tells the mode."""

    LTP = "ltp"
    QUOTE = "quote"
    FULL = "full"


class FrameError(BrokerError):
    """A binary frame is shorter than its own headers say; none of its packets can be trusted."""


@dataclass(frozen=True, slots=True)
class DepthLevel:
    """One price level of the order book: resting quantity, price and number of orders."""

    quantity: int
    price: Decimal
    orders: int


@dataclass(frozen=True, slots=True)
class Depth:
    """The five best bid (``buy``) and ask (``sell``) levels, best first."""

    buy: tuple[DepthLevel, ...]
    sell: tuple[DepthLevel, ...]


@dataclass(frozen=True, slots=True)
class KitePacket:
    """One instrument's update from a Kite binary frame, with exact prices.

    ``mode`` says which optional fields are set: ``ltp`` only the last price; ``quote`` adds the
    day's OHLC and ``change_pct`` (and, for tradable instruments, quantities, volume and average
    price); ``full`` adds the timestamps (epoch seconds, see ``to_datetime``) and, for tradable
    instruments, open interest and five levels of depth. Indices (``tradable`` false) carry no
    quantities at all. A parsed packet decodes its depth on the first read of ``depth`` (equality,
    hashing, ``repr`` and pickling read it too); it is a plain value otherwise.
    """

    instrument_token: int
    segment: int
    tradable: bool
    mode: Mode
    last_price: Decimal
    last_traded_quantity: int | None = None
    average_traded_price: Decimal | None = None
    volume_traded: int | None = None
    total_buy_quantity: int | None = None
    total_sell_quantity: int | None = None
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    close: Decimal | None = None
    last_trade_time: int | None = None
    oi: int | None = None
    oi_day_high: int | None = None
    oi_day_low: int | None = None
    exchange_timestamp: int | None = None
    depth: Depth | None = None

    @property
    def change_pct(self) -> Decimal | None:
        """(last - close) * 100 / close, as the official client computes ``change``; 0 when the
        close is 0, None in ltp mode (no close)."""
        close = self.close
        if close is None:
            return None
        if not close:
            return Decimal(0)
        return _DIVIDE(_MULTIPLY(_SUBTRACT(self.last_price, close), 100), close)


def price_divisor(segment: int) -> int:
    """What a raw price of this segment (``token & 0xFF``) is divided by."""
    return PRICE_DIVISORS.get(segment, DEFAULT_PRICE_DIVISOR)


def to_datetime(epoch_s: int) -> datetime:
    """A packet timestamp (epoch seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch_s, UTC)


def is_heartbeat(data: bytes) -> bool:
    """True for the 1-byte frame the server sends when it has nothing to stream."""
    return len(data) == 1


def parse_frame(data: bytes) -> list[KitePacket]:
    """Every packet of one binary frame, in order.

    A heartbeat or a frame of zero packets gives ``[]``; packets of an unknown length are skipped,
    as the official client does; bytes after the last counted packet are ignored. A frame that
    claims more bytes than it holds raises ``FrameError``.
    """
    size = len(data)
    if size < 2:
        return []
    count = data[0] << 8 | data[1]
    packets: list[KitePacket] = []
    # The Decimal operators are exact under _EXACT and take half the time of its methods; the
    # caller's context is back in place before anything else runs.
    caller = getcontext()
    setcontext(_EXACT)
    try:
        _parse_packets(data, size, count, packets)
    finally:
        setcontext(caller)
    return packets


def _parse_packets(data: bytes, size: int, count: int, packets: list[KitePacket]) -> None:
    offset = 2
    for number in range(1, count + 1):
        if offset + 2 > size:
            raise FrameError(f"a {size}-byte frame ends before packet {number} of {count}")
        length = data[offset] << 8 | data[offset + 1]  # cheaper than a struct call
        offset += 2
        if offset + length > size:
            raise FrameError(
                f"packet {number} of {count} claims {length} bytes; "
                f"the {size}-byte frame holds {size - offset} more"
            )
        parse = _PARSERS.get(length)
        if parse is not None:
            packets.append(parse(data, offset))
        offset += length


# --- the packet layouts -------------------------------------------------------------------------

# token, last price
_LTP = struct.Struct(">2I")
# token, last, high, low, open, close, net change (ignored: we compute change_pct like the
# official client does) [, exchange timestamp]
_INDEX_QUOTE = struct.Struct(">7I")
_INDEX_FULL = struct.Struct(">8I")
# token, last, last qty, average price, volume, buy qty, sell qty, open, high, low, close
_QUOTE = struct.Struct(">11I")
# the quote fields, then last trade time, oi, oi day high, oi day low, exchange timestamp, then
# ten depth levels (five bids, five asks) of quantity, price, orders (uint16) and 2 bytes padding
_FULL_FIELDS = struct.Struct(">16I")
_DEPTH_LEVEL = struct.Struct(">IIH2x")
_FULL_LENGTH = _FULL_FIELDS.size + 10 * _DEPTH_LEVEL.size

# Exact under any thread context: raw prices have at most 10 digits and a scale is a power of ten.
_EXACT = Context(prec=28)
_MULTIPLY = _EXACT.multiply
_DIVIDE = _EXACT.divide
_SUBTRACT = _EXACT.subtract
_SCALES: tuple[Decimal, ...] = tuple(_DIVIDE(1, price_divisor(segment)) for segment in range(256))


def _draft_class(cls: type[Any]) -> Any:
    """A plain twin of the frozen slotted dataclass ``cls``: the same slots and nothing else.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: about 2.5 us
    for a packet's 20 fields, twice the official client's whole parse of an ltp packet. The parser
    creates the twin, stores the fields into its slots, and relabels it ``cls``; CPython allows
    assigning ``__class__`` between classes of identical slot layout. The result is a genuine,
    frozen, hashable ``cls`` instance, equal to one built the usual way.
    """
    return type(f"_{cls.__name__}Draft", (), {"__slots__": cls.__slots__})


_PacketDraft = _draft_class(KitePacket)
_DepthDraft = _draft_class(Depth)
_LevelDraft = _draft_class(DepthLevel)

# Bound once: an attribute lookup on an enum class costs ~80 ns, a tenth of an ltp packet.
_LTP_MODE, _QUOTE_MODE, _FULL_MODE = Mode.LTP, Mode.QUOTE, Mode.FULL

# Each parser below fills every slot of a draft (a slot never stored would raise on reading) and
# multiplies raw prices by the segment's scale under ``_EXACT`` (``parse_frame`` sets it).


def _ltp(data: bytes, offset: int) -> KitePacket:
    token, last = _LTP.unpack_from(data, offset)
    packet = _PacketDraft()
    packet.instrument_token = token
    packet.segment = segment = token & 0xFF
    packet.tradable = segment != SEGMENT_INDICES
    packet.mode = _LTP_MODE
    packet.last_price = _SCALES[segment] * last
    packet.last_traded_quantity = packet.average_traded_price = packet.volume_traded = None
    packet.total_buy_quantity = packet.total_sell_quantity = None
    packet.open = packet.high = packet.low = packet.close = None
    packet.last_trade_time = packet.oi = packet.oi_day_high = packet.oi_day_low = None
    packet.exchange_timestamp = packet.depth = None
    packet.__class__ = KitePacket
    result: KitePacket = packet
    return result


def _index_quote(data: bytes, offset: int) -> KitePacket:
    token, last, high, low, open_, close, _ = _INDEX_QUOTE.unpack_from(data, offset)
    packet = _index(token, last, high, low, open_, close)
    packet.mode = _QUOTE_MODE
    packet.exchange_timestamp = None
    packet.__class__ = KitePacket
    result: KitePacket = packet
    return result


def _index_full(data: bytes, offset: int) -> KitePacket:
    token, last, high, low, open_, close, _, timestamp = _INDEX_FULL.unpack_from(data, offset)
    packet = _index(token, last, high, low, open_, close)
    packet.mode = _FULL_MODE
    packet.exchange_timestamp = timestamp
    packet.__class__ = KitePacket
    result: KitePacket = packet
    return result


def _index(token: int, last: int, high: int, low: int, open_: int, close: int) -> Any:
    """A draft of an index packet, but for its mode and exchange timestamp."""
    packet = _PacketDraft()
    packet.instrument_token = token
    packet.segment = segment = token & 0xFF
    packet.tradable = segment != SEGMENT_INDICES
    scale = _SCALES[segment]
    packet.last_price = scale * last
    packet.open = scale * open_
    packet.high = scale * high
    packet.low = scale * low
    packet.close = scale * close
    packet.last_traded_quantity = packet.average_traded_price = packet.volume_traded = None
    packet.total_buy_quantity = packet.total_sell_quantity = None
    packet.last_trade_time = packet.oi = packet.oi_day_high = packet.oi_day_low = None
    packet.depth = None
    return packet


def _quote(data: bytes, offset: int) -> KitePacket:
    packet = _tradable(_QUOTE.unpack_from(data, offset))
    packet.mode = _QUOTE_MODE
    packet.last_trade_time = packet.oi = packet.oi_day_high = packet.oi_day_low = None
    packet.exchange_timestamp = packet.depth = None
    packet.__class__ = KitePacket
    result: KitePacket = packet
    return result


def _full(data: bytes, offset: int) -> KitePacket:
    values = _FULL_FIELDS.unpack_from(data, offset)
    packet = _tradable(values)
    packet.mode = _FULL_MODE
    packet.last_trade_time, packet.oi, packet.oi_day_high, packet.oi_day_low = values[11:15]
    packet.exchange_timestamp = values[15]
    # the depth's own bytes, decoded on the first read of ``depth`` (``_read_depth``)
    packet.depth = data[offset + _FULL_FIELDS.size : offset + _FULL_LENGTH]
    packet.__class__ = KitePacket
    result: KitePacket = packet
    return result


def _tradable(values: tuple[int, ...]) -> Any:
    """A draft of a quote or full packet with the 11 quote fields set."""
    token, last, quantity, average, volume, buys, sells, open_, high, low, close = values[:11]
    packet = _PacketDraft()
    packet.instrument_token = token
    packet.segment = segment = token & 0xFF
    packet.tradable = segment != SEGMENT_INDICES
    scale = _SCALES[segment]
    packet.last_price = scale * last
    packet.last_traded_quantity = quantity
    packet.average_traded_price = scale * average
    packet.volume_traded = volume
    packet.total_buy_quantity = buys
    packet.total_sell_quantity = sells
    packet.open = scale * open_
    packet.high = scale * high
    packet.low = scale * low
    packet.close = scale * close
    return packet


# --- the market depth, decoded when first read ---------------------------------------------------

_DEPTH_SLOT = KitePacket.__dict__["depth"]  # the slot's own descriptor, under the property


def _read_depth(packet: KitePacket) -> Depth | None:
    """``KitePacket.depth``: decodes a parsed full packet's depth bytes once, keeps the result."""
    depth: Depth | bytes | None = _DEPTH_SLOT.__get__(packet)
    if depth is None or isinstance(depth, Depth):
        return depth
    caller = getcontext()
    setcontext(_EXACT)
    try:
        decoded = _decode_depth(depth, _SCALES[packet.segment])
    finally:
        setcontext(caller)
    _DEPTH_SLOT.__set__(packet, decoded)  # as the frozen __init__ does: the same value, decoded
    return decoded


def _decode_depth(data: bytes, scale: Decimal) -> Depth:
    """The ten levels of a full packet: quantity, price, orders each; bids first."""
    levels = []
    for quantity, price, orders in _DEPTH_LEVEL.iter_unpack(data):
        level = _LevelDraft()
        level.quantity = quantity
        level.price = scale * price
        level.orders = orders
        level.__class__ = DepthLevel
        levels.append(level)
    depth = _DepthDraft()
    depth.buy = tuple(levels[:5])
    depth.sell = tuple(levels[5:])
    depth.__class__ = Depth
    result: Depth = depth
    return result


# A property over the slot: reads go through _read_depth, the dataclass __init__ (which sets fields
# with object.__setattr__) still stores into the slot, and assignment still raises, being frozen.
setattr(KitePacket, "depth", property(_read_depth, _DEPTH_SLOT.__set__))  # noqa: B010

_PARSERS = {
    _LTP.size: _ltp,
    _INDEX_QUOTE.size: _index_quote,
    _INDEX_FULL.size: _index_full,
    _QUOTE.size: _quote,
    _FULL_LENGTH: _full,
}
PACKET_LENGTHS = frozenset(_PARSERS)
