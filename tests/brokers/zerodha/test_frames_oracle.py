"""The Kite binary frame parser against the official client, on thousands of random frames.

The test feeds the frames to the official client (``kiteconnect`` 5.2.2's
``KiteTicker._parse_binary``) in its own interpreter, named by ``POCKETDESK_KITE_ORACLE`` (``make
pytest`` builds ``.venv-oracle`` and sets it), and compares every field, depth levels included.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
from decimal import Decimal
from typing import Any

import pytest

from brokers.zerodha.frames import DepthLevel, FrameError, KitePacket, parse_frame
from tests.brokers.zerodha import ORACLE_ENV, random_frame, run_oracle

DIFFERENTIAL_SEED = 20_240_521
DIFFERENTIAL_FRAMES = 3_000


def official_shape(packet: KitePacket) -> dict[str, Any]:
    """Our packet in the official client's tick layout, prices as floats (``change`` apart)."""
    tick: dict[str, Any] = {
        "tradable": packet.tradable,
        "mode": str(packet.mode),
        "instrument_token": packet.instrument_token,
        "last_price": float(packet.last_price),
    }
    if packet.close is not None:
        names = ("last_traded_quantity", "average_traded_price", "volume_traded")
        names += ("total_buy_quantity", "total_sell_quantity")
        for name in names:
            value = getattr(packet, name)
            if value is not None:
                tick[name] = float(value) if isinstance(value, Decimal) else value
        ohlc = {"open": packet.open, "high": packet.high, "low": packet.low, "close": packet.close}
        tick["ohlc"] = {key: float(value) for key, value in ohlc.items() if value is not None}
    for name in ("last_trade_time", "oi", "oi_day_high", "oi_day_low", "exchange_timestamp"):
        if getattr(packet, name) is not None:
            tick[name] = getattr(packet, name)
    if packet.depth is not None:
        tick["depth"] = {
            "buy": [official_level(level) for level in packet.depth.buy],
            "sell": [official_level(level) for level in packet.depth.sell],
        }
    return tick


def official_level(level: DepthLevel) -> dict[str, Any]:
    return {"quantity": level.quantity, "price": float(level.price), "orders": level.orders}


def change_matches(ours: Decimal, theirs: float, last: Decimal, close: Decimal) -> bool:
    """Ours is exact; theirs is float arithmetic, whose error grows with last/close."""
    if not close:
        return theirs == 0
    scale = 100 * (abs(last) + abs(close)) / abs(close)
    return math.isclose(float(ours), theirs, rel_tol=1e-12, abs_tol=float(scale) * 1e-15)


def differences(data: bytes, theirs: dict[str, Any]) -> list[str]:
    """What differs between our parse of ``data`` and the oracle's; empty when they agree."""
    try:
        ours = parse_frame(data)
    except FrameError as exc:
        return [] if "error" in theirs else [f"we raised {exc}, they parsed"]
    if "error" in theirs:
        return [f"they raised {theirs['error']}, we parsed"]
    if len(ours) != len(theirs["ticks"]):
        return [f"{len(ours)} packets here, {len(theirs['ticks'])} there"]
    found = []
    for index, (packet, tick) in enumerate(zip(ours, theirs["ticks"], strict=True)):
        their_change = tick.pop("change", None)
        shape = official_shape(packet)
        if shape != tick:
            diff = {
                k: (shape.get(k), tick.get(k)) for k in shape | tick if shape.get(k) != tick.get(k)
            }
            found.append(f"packet {index}: (ours, theirs) {diff}")
        if packet.change_pct is None:
            if their_change is not None:
                found.append(f"packet {index}: no change here, {their_change} there")
        elif packet.close is None or their_change is None:
            found.append(f"packet {index}: change {packet.change_pct} here, none there")
        elif not change_matches(packet.change_pct, their_change, packet.last_price, packet.close):
            found.append(f"packet {index}: change {packet.change_pct} vs {their_change}")
    return found


def differential_frames() -> list[bytes]:
    rng = random.Random(DIFFERENTIAL_SEED)
    frames = [random_frame(rng, junk=True) for _ in range(DIFFERENTIAL_FRAMES)]
    frames += [b"\x00", b"\x00\x00"]
    # claiming one packet more than the frame holds: both parsers must refuse it
    frames += [b"\x00\x02" + random_frame(rng, 1)[2:] for _ in range(20)]
    return frames


@pytest.mark.skipif(
    not os.environ.get(ORACLE_ENV),
    reason=f"{ORACLE_ENV} is not set: `make pytest` builds .venv-oracle (kiteconnect 5.2.2) "
    "and sets it to that interpreter",
)
def test_thousands_of_random_frames_parse_exactly_as_the_official_client_does() -> None:
    frames = differential_frames()
    encoded = [base64.b64encode(data).decode("ascii") for data in frames]

    results = run_oracle(os.environ[ORACLE_ENV], encoded).splitlines()

    assert len(results) == len(frames)
    packets = 0
    mismatches = []
    for data, line in zip(frames, results, strict=True):
        theirs = json.loads(line)
        packets += len(theirs.get("ticks", ()))
        for difference in differences(data, theirs):
            mismatches.append(f"{base64.b64encode(data).decode()}: {difference}")
    assert packets > 5 * DIFFERENTIAL_FRAMES // 2, "the frames should hold thousands of packets"
    assert not mismatches, f"{len(mismatches)} differences, first ones:\n" + "\n".join(
        mismatches[:10]
    )
