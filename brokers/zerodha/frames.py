"""The Kite ticker's binary frames: a pure parser, bytes in, exact ``KitePacket`` values out.

A binary frame is big-endian: a uint16 packet count, then for each packet a uint16 length and the
packet itself. The length says what the packet is (``PACKET_LENGTHS``); every field is an unsigned
32-bit integer, and prices are integers to be divided by the segment's divisor
(``price_divisor``). A 1-byte frame is the server's heartbeat. The layouts, and how they were
checked against the official client, are in the project's research notes on Kite (section 4).

The ticker client hands each binary WebSocket message to ``parse_frame``; this module does no
I/O. It is tested field by field against the official client's parser (tests/brokers/zerodha).
"""

from __future__ import annotations

import struct
from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal
from enum import StrEnum
from itertools import repeat
from typing import Any

from core.errors import BrokerError

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
    quantities at all.
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
    return packets


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
_DEPTH_LEVEL = ">IIH2x"
_FULL = struct.Struct(">16I" + _DEPTH_LEVEL[1:] * 10)
_DEPTH_FIRST = 16
_DEPTH_FIELDS = 3

# Exact under any thread context: raw prices have at most 10 digits and a scale is a power of ten.
_EXACT = Context(prec=28)
_MULTIPLY = _EXACT.multiply
_DIVIDE = _EXACT.divide
_SUBTRACT = _EXACT.subtract
_SCALES: tuple[Decimal, ...] = tuple(_DIVIDE(1, price_divisor(segment)) for segment in range(256))


def _draft_class(cls: type[Any]) -> Any:
    """A non-frozen twin of the frozen slotted dataclass ``cls``: same fields, same slots.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: about 2.5 us
    for a packet's 20 fields, twice the official client's whole parse of an ltp packet. The parser
    builds the twin (plain slot stores) and then relabels it ``cls``; CPython allows assigning
    ``__class__`` between classes of identical slot layout. The result is a genuine, frozen,
    hashable ``cls`` instance, equal to one built the usual way.
    """
    spec = [
        (f.name, f.type) if f.default is MISSING else (f.name, f.type, field(default=f.default))
        for f in fields(cls)
    ]
    twin: Any = make_dataclass(f"_{cls.__name__}Draft", spec, slots=True)
    if twin.__slots__ != cls.__slots__:  # pragma: no cover - a dataclasses change would show here
        raise TypeError(f"cannot build {cls.__name__} quickly: slot layouts differ")
    return twin


_PacketDraft = _draft_class(KitePacket)
_DepthDraft = _draft_class(Depth)
_LevelDraft = _draft_class(DepthLevel)


# Bound once: an attribute lookup on an enum class costs ~80 ns, a tenth of an ltp packet.
_LTP_MODE, _QUOTE_MODE, _FULL_MODE = Mode.LTP, Mode.QUOTE, Mode.FULL


def _ltp(data: bytes, offset: int) -> KitePacket:
    token, last = _LTP.unpack_from(data, offset)
    segment = token & 0xFF
    draft = _PacketDraft(
        token, segment, segment != SEGMENT_INDICES, _LTP_MODE, _MULTIPLY(last, _SCALES[segment])
    )
    draft.__class__ = KitePacket
    packet: KitePacket = draft
    return packet


def _index_quote(data: bytes, offset: int) -> KitePacket:
    token, last, high, low, open_, close, _ = _INDEX_QUOTE.unpack_from(data, offset)
    return _index(token, last, high, low, open_, close, _QUOTE_MODE, None)


def _index_full(data: bytes, offset: int) -> KitePacket:
    token, last, high, low, open_, close, _, timestamp = _INDEX_FULL.unpack_from(data, offset)
    return _index(token, last, high, low, open_, close, _FULL_MODE, timestamp)


def _index(
    token: int,
    last: int,
    high: int,
    low: int,
    open_: int,
    close: int,
    mode: Mode,
    timestamp: int | None,
) -> KitePacket:
    segment = token & 0xFF
    scale = _SCALES[segment]
    draft = _PacketDraft(
        token,
        segment,
        segment != SEGMENT_INDICES,
        mode,
        _MULTIPLY(last, scale),
        open=_MULTIPLY(open_, scale),
        high=_MULTIPLY(high, scale),
        low=_MULTIPLY(low, scale),
        close=_MULTIPLY(close, scale),
        exchange_timestamp=timestamp,
    )
    draft.__class__ = KitePacket
    packet: KitePacket = draft
    return packet


def _quote(data: bytes, offset: int) -> KitePacket:
    return _tradable(_QUOTE.unpack_from(data, offset), _QUOTE_MODE)


def _full(data: bytes, offset: int) -> KitePacket:
    return _tradable(_FULL.unpack_from(data, offset), _FULL_MODE)


def _tradable(values: tuple[int, ...], mode: Mode) -> KitePacket:
    token, last, quantity, average, volume, buys, sells, open_, high, low, close = values[:11]
    segment = token & 0xFF
    scale = _SCALES[segment]
    draft = _PacketDraft(
        token,
        segment,
        segment != SEGMENT_INDICES,
        mode,
        _MULTIPLY(last, scale),
        quantity,
        _MULTIPLY(average, scale),
        volume,
        buys,
        sells,
        _MULTIPLY(open_, scale),
        _MULTIPLY(high, scale),
        _MULTIPLY(low, scale),
        _MULTIPLY(close, scale),
    )
    if mode is _FULL_MODE:
        draft.last_trade_time, draft.oi, draft.oi_day_high, draft.oi_day_low = values[11:15]
        draft.exchange_timestamp = values[15]
        draft.depth = _depth(values, scale)
    draft.__class__ = KitePacket
    packet: KitePacket = draft
    return packet


def _depth(values: tuple[int, ...], scale: Decimal) -> Depth:
    """The ten levels after the 16 fixed fields: quantity, price, orders each; bids first."""
    levels = list(
        map(
            _LevelDraft,
            values[_DEPTH_FIRST::_DEPTH_FIELDS],
            map(_MULTIPLY, values[_DEPTH_FIRST + 1 :: _DEPTH_FIELDS], repeat(scale)),
            values[_DEPTH_FIRST + 2 :: _DEPTH_FIELDS],
        )
    )
    for level in levels:
        level.__class__ = DepthLevel
    depth = _DepthDraft(tuple(levels[:5]), tuple(levels[5:]))
    depth.__class__ = Depth
    result: Depth = depth
    return result


_PARSERS = {
    _LTP.size: _ltp,
    _INDEX_QUOTE.size: _index_quote,
    _INDEX_FULL.size: _index_full,
    _QUOTE.size: _quote,
    _FULL.size: _full,
}
PACKET_LENGTHS = frozenset(_PARSERS)
