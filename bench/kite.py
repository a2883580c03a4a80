"""Kite binary frame parsing: ours against the official client, on the same random frames.

Ours runs in-process; the official ``KiteTicker._parse_binary`` runs in the oracle interpreter
(``.venv-oracle``, see ``make oracle``), which times its loop itself and prints the time back, so
neither side pays for process start-up, imports or I/O. Both report the best of ``REPEAT`` passes.
Rows are ``(name, value, unit)`` for ``bench/__main__.py``; no time is asserted.

Parsing alone is not comparable: the official client builds every value of a packet, ours leaves
a full packet's market depth undecoded until it is read. So each pass parses a frame and then
reads its packets, in the same way on both sides (``READS``):

- ``monitor`` ("parse + monitor read", the headline): what the tick monitor reads
  (``ticker.tick_from``): token, last price, volume, and the exchange time made a datetime.
- ``all`` ("parse + full read"): every value the official client returns for the packet's layout,
  depth levels and ``change`` (our ``change_pct``) included, timestamps made datetimes as it
  returns them.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path

from bench.harness import Row
from brokers.zerodha.frames import KitePacket, Mode, parse_frame, to_datetime
from tests.brokers.zerodha import (
    KINDS,
    ORACLE_ENV,
    QUOTE_FIELDS,
    frame,
    random_packet,
    run_oracle,
)

PACKETS = 20_000  # the mixed set: every packet kind, equally often
PACKETS_PER_KIND = 5_000
REPEAT = 5
SEED = 42
ROOT = Path(__file__).resolve().parents[1]

# What the official client returns per layout: ``change`` is our ``change_pct``, and a full
# packet's ``depth`` is read level by level.
_LTP_VALUES = attrgetter("tradable", "mode", "instrument_token", "last_price")
_INDEX_VALUES = attrgetter(
    "tradable", "mode", "instrument_token", "last_price", "open", "high", "low", "close"
)
_QUOTE_VALUES = attrgetter("tradable", "mode", "instrument_token", *QUOTE_FIELDS)
_OPEN_INTEREST = attrgetter("oi", "oi_day_high", "oi_day_low")
_LEVEL_VALUES = attrgetter("quantity", "price", "orders")
_LTP, _FULL = Mode.LTP, Mode.FULL  # an enum member lookup costs as much as reading a field


def read_all(packets: list[KitePacket]) -> None:
    """Every value the official client returns for each packet, depth levels included, and
    timestamps as datetimes (as it returns them)."""
    for packet in packets:
        if packet.mode is _LTP:
            _LTP_VALUES(packet)
            continue
        if packet.volume_traded is None:  # an index layout
            _INDEX_VALUES(packet)
        else:
            _QUOTE_VALUES(packet)
        _ = packet.change_pct
        if packet.mode is not _FULL:
            continue
        _ = to_datetime(packet.exchange_timestamp or 0)
        if packet.last_trade_time is None:  # the index layout ends here
            continue
        _ = to_datetime(packet.last_trade_time), _OPEN_INTEREST(packet)
        depth = packet.depth
        assert depth is not None
        for level in depth.buy:
            _LEVEL_VALUES(level)
        for level in depth.sell:
            _LEVEL_VALUES(level)


def read_monitor(packets: list[KitePacket]) -> None:
    """What ``ticker.tick_from`` reads of a packet: token, last price, volume and exchange time,
    made a datetime when there is one."""
    for packet in packets:
        _ = packet.instrument_token, packet.last_price, packet.volume_traded
        stamp = packet.exchange_timestamp
        if stamp:
            _ = to_datetime(stamp)


Read = Callable[[list[KitePacket]], None]
READS: dict[str, tuple[str, Read]] = {
    "monitor": ("parse + monitor read", read_monitor),
    "all": ("parse + full read", read_all),
}


def random_frames(rng: random.Random, packets: int, kind: str | None = None) -> list[bytes]:
    """Frames of 1 to 10 packets (of ``kind``, or any), ``packets`` packets in all."""
    frames = []
    while packets > 0:
        size = min(rng.randint(1, 10), packets)
        frames.append(frame(*(random_packet(rng, kind).encode() for _ in range(size))))
        packets -= size
    return frames


def oracle_python() -> str | None:
    """The oracle interpreter: ``$POCKETDESK_KITE_ORACLE``, else ``.venv-oracle`` if built."""
    configured = os.environ.get(ORACLE_ENV)
    if configured:
        return configured
    default = ROOT / ".venv-oracle" / "bin" / "python"
    return str(default) if default.exists() else None


def time_ours(frames: list[bytes], read: Read) -> float:
    """Best seconds of ``REPEAT`` passes over ``frames``, each frame parsed and then read."""
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        for data in frames:
            read(parse_frame(data))
        best = min(best, time.perf_counter() - start)
    return best


def time_official(python: str, sets: dict[str, list[bytes]]) -> dict[str, dict[str, float]]:
    """Best seconds per set and per read (``READS``), measured inside the oracle interpreter;
    the packets of each set under the key ``packets``."""
    lines = [
        f"{name} {base64.b64encode(data).decode('ascii')}"
        for name, frames in sets.items()
        for data in frames
    ]
    report = json.loads(run_oracle(python, lines, "--bench", str(REPEAT)))
    return {
        name: {**entry["seconds"], "packets": entry["packets"]} for name, entry in report.items()
    }


def run_kite_benches() -> list[Row]:
    """Packets per second, ours and the official client's, and our speed-up on mixed and on
    single-kind frames, for each way of reading the packets (``READS``)."""
    rng = random.Random(SEED)
    sets = {"mixed": random_frames(rng, PACKETS)}
    sets.update({kind: random_frames(rng, PACKETS_PER_KIND, kind) for kind in KINDS})
    packets = {
        name: sum(len(parse_frame(data)) for data in frames) for name, frames in sets.items()
    }
    ours = {
        (read_name, name): time_ours(frames, read)
        for read_name, (_, read) in READS.items()
        for name, frames in sets.items()
    }
    mixed = packets["mixed"]
    rows: list[Row] = [
        (
            f"kite {title}, ours ({mixed} mixed packets)",
            mixed / ours[read_name, "mixed"],
            "packets/s",
        )
        for read_name, (title, _) in READS.items()
    ]
    python = oracle_python()
    if python is None:
        missing = f"kite frame parse, official: no oracle (make oracle, or set {ORACLE_ENV})"
        return [*rows, (missing, 0.0, "n/a")]
    official = time_official(python, sets)
    for name, count in packets.items():
        assert official[name]["packets"] == count, "both parsers should find the same packets"
    for read_name, (title, _) in READS.items():
        their_rate = mixed / official["mixed"][read_name]
        rows.append((f"kite {title}, kiteconnect 5.2.2", their_rate, "packets/s"))
    for read_name, (title, _) in READS.items():
        for name in sets:
            ratio = official[name][read_name] / ours[read_name, name]
            rows.append((f"kite {title}: speed-up vs kiteconnect ({name})", ratio, "x"))
    return rows


if __name__ == "__main__":
    for name, value, unit in run_kite_benches():
        print(f"{name:<64} {value:>14,.2f}  {unit}")
