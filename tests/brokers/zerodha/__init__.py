"""Shared by the Zerodha tests and the Kite benchmark: Kite binary frames built from raw integers.

``RawPacket`` is a reference encoder written from the documented packet layouts (with
``int.to_bytes``, independently of the parser's ``struct`` formats) that also says which
``KitePacket`` the parser must return for it. ``run_oracle`` runs ``kite_oracle.py``, the official
client's parser, in its own interpreter (``.venv-oracle``, named by ``POCKETDESK_KITE_ORACLE``).
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from brokers.zerodha.frames import Depth, DepthLevel, KitePacket, Mode

ORACLE_ENV = "POCKETDESK_KITE_ORACLE"
ORACLE_SCRIPT = Path(__file__).with_name("kite_oracle.py")

# --- the reference encoder ------------------------------------------------------------------------

# Wire order of the 4-byte fields after the token, per packet kind (kite.md section 4.4).
QUOTE_FIELDS = (
    "last_price",
    "last_traded_quantity",
    "average_traded_price",
    "volume_traded",
    "total_buy_quantity",
    "total_sell_quantity",
    "open",
    "high",
    "low",
    "close",
)
INDEX_QUOTE_FIELDS = ("last_price", "high", "low", "open", "close", "net_change")
WIRE_FIELDS = {
    "ltp": ("last_price",),
    "index_quote": INDEX_QUOTE_FIELDS,
    "index_full": (*INDEX_QUOTE_FIELDS, "exchange_timestamp"),
    "quote": QUOTE_FIELDS,
    "full": (
        *QUOTE_FIELDS,
        "last_trade_time",
        "oi",
        "oi_day_high",
        "oi_day_low",
        "exchange_timestamp",
    ),
}
KINDS = tuple(WIRE_FIELDS)
LENGTHS = {"ltp": 8, "index_quote": 28, "index_full": 32, "quote": 44, "full": 184}
MODES = {"ltp": "ltp", "index_quote": "quote", "index_full": "full", "quote": "quote"}
PRICE_FIELDS = frozenset({"last_price", "average_traded_price", "open", "high", "low", "close"})
SEGMENTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12)
DIVISORS = {3: 10_000_000, 6: 10_000, 12: 10_000}  # every other segment: 100
UINT32_MAX = 2**32 - 1

Level = tuple[int, int, int]  # quantity, raw price, orders


@dataclass(frozen=True)
class RawPacket:
    """One packet as raw wire integers: encodes itself, and says what the parser must return."""

    kind: str
    token: int
    values: dict[str, int]
    depth: tuple[Level, ...] = ()  # full packets: five bids, then five asks

    def encode(self) -> bytes:
        body = self.token.to_bytes(4, "big")
        body += b"".join(self.values[name].to_bytes(4, "big") for name in WIRE_FIELDS[self.kind])
        for quantity, price, orders in self.depth:
            body += quantity.to_bytes(4, "big") + price.to_bytes(4, "big")
            body += orders.to_bytes(2, "big") + b"\x00\x00"
        assert len(body) == LENGTHS[self.kind]
        return body

    def expected(self) -> KitePacket:
        segment = self.token & 0xFF
        divisor = DIVISORS.get(segment, 100)
        fields: dict[str, Any] = {}
        for name, raw in self.values.items():
            if name != "net_change":  # the index's own change is not reported
                fields[name] = Decimal(raw) / divisor if name in PRICE_FIELDS else raw
        if self.depth:
            levels = [DepthLevel(q, Decimal(p) / divisor, o) for q, p, o in self.depth]
            fields["depth"] = Depth(buy=tuple(levels[:5]), sell=tuple(levels[5:]))
        return KitePacket(
            instrument_token=self.token,
            segment=segment,
            tradable=segment != 9,
            mode=Mode(MODES.get(self.kind, "full")),
            **fields,
        )


def frame(*packets: bytes) -> bytes:
    """A binary frame: packet count, then each packet behind its length."""
    body = b"".join(len(packet).to_bytes(2, "big") + packet for packet in packets)
    return len(packets).to_bytes(2, "big") + body


def token(exchange_token: int, segment: int) -> int:
    return exchange_token << 8 | segment


def raw(kind: str, instrument: int, *values: int, depth: tuple[Level, ...] = ()) -> RawPacket:
    return RawPacket(kind, instrument, dict(zip(WIRE_FIELDS[kind], values, strict=True)), depth)


def random_packet(rng: random.Random, kind: str | None = None) -> RawPacket:
    """A packet of random uint32 fields (now and then 0, 1 or the maximum) on a random segment."""

    def u32() -> int:
        roll = rng.random()
        if roll < 0.05:
            return rng.choice((0, 1, UINT32_MAX))
        return rng.getrandbits(32 if roll < 0.5 else 24)

    kind = kind or rng.choice(KINDS)
    instrument = token(rng.getrandbits(24), rng.choice(SEGMENTS))
    values = {name: u32() for name in WIRE_FIELDS[kind]}
    depth: tuple[Level, ...] = ()
    if kind == "full":
        depth = tuple((u32(), u32(), rng.getrandbits(16)) for _ in range(10))
    return RawPacket(kind, instrument, values, depth)


def random_frame(rng: random.Random, max_packets: int = 6, junk: bool = False) -> bytes:
    """A frame of 0..max_packets random packets; with ``junk``, some of unknown lengths too."""
    packets = [random_packet(rng).encode() for _ in range(rng.randint(0, max_packets))]
    if junk and rng.random() < 0.2:
        length = rng.choice([n for n in range(4, 200) if n not in LENGTHS.values()])
        packets.insert(rng.randint(0, len(packets)), rng.randbytes(length))
    return frame(*packets)


# --- the official client -------------------------------------------------------------------------


def run_oracle(python: str, lines: list[str], *args: str) -> str:
    """Run ``kite_oracle.py`` once in the oracle interpreter over ``lines``; its stdout."""
    done = subprocess.run(
        [python, "-I", str(ORACLE_SCRIPT), *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"the Kite oracle failed:\n{done.stderr}"
    return done.stdout
