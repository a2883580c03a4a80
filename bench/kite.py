"""Kite binary frame parsing: ours against the official client, on the same random frames.

Ours runs in-process; the official ``KiteTicker._parse_binary`` runs in the oracle interpreter
(``.venv-oracle``, see ``make oracle``), which times its parse loop itself and prints the time
back, so neither side pays for process start-up, imports or I/O. Both report the best of
``REPEAT`` passes. Rows are ``(name, value, unit)`` for ``bench/__main__.py``; no time is asserted.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from pathlib import Path

from bench.harness import Row
from brokers.zerodha.frames import parse_frame
from tests.brokers.zerodha import (
    KINDS,
    ORACLE_ENV,
    frame,
    random_packet,
    run_oracle,
)

PACKETS = 20_000  # the mixed set: every packet kind, equally often
PACKETS_PER_KIND = 5_000
REPEAT = 3
SEED = 42
ROOT = Path(__file__).resolve().parents[1]


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


def time_ours(frames: list[bytes]) -> tuple[float, int]:
    """Best seconds of ``REPEAT`` passes over ``frames``, and the packets one pass yields."""
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        for data in frames:
            parse_frame(data)
        best = min(best, time.perf_counter() - start)
    return best, sum(len(parse_frame(data)) for data in frames)


def time_official(python: str, sets: dict[str, list[bytes]]) -> dict[str, tuple[float, int]]:
    """Best seconds and packets per set, measured inside the oracle interpreter."""
    lines = [
        f"{name} {base64.b64encode(data).decode('ascii')}"
        for name, frames in sets.items()
        for data in frames
    ]
    report = json.loads(run_oracle(python, lines, "--bench", str(REPEAT)))
    return {name: (entry["seconds"], entry["packets"]) for name, entry in report.items()}


def run_kite_benches() -> list[Row]:
    """Packets per second, ours and the official client's, on mixed and on single-kind frames."""
    rng = random.Random(SEED)
    sets = {"mixed": random_frames(rng, PACKETS)}
    sets.update({kind: random_frames(rng, PACKETS_PER_KIND, kind) for kind in KINDS})
    ours = {name: time_ours(frames) for name, frames in sets.items()}
    seconds, packets = ours["mixed"]
    name = f"kite frame parse, ours ({packets} mixed packets)"
    rows: list[Row] = [(name, packets / seconds, "packets/s")]
    python = oracle_python()
    if python is None:
        missing = f"kite frame parse, official: no oracle (make oracle, or set {ORACLE_ENV})"
        return [*rows, (missing, 0.0, "n/a")]
    official = time_official(python, sets)
    their_seconds, their_packets = official["mixed"]
    assert their_packets == packets, "both parsers should find the same packets"
    rows.append(("kite frame parse, kiteconnect 5.2.2", their_packets / their_seconds, "packets/s"))
    rows.append(("kite frame parse speed-up vs kiteconnect (mixed)", their_seconds / seconds, "x"))
    for kind in KINDS:
        ratio = official[kind][0] / ours[kind][0]
        rows.append((f"kite frame parse speed-up vs kiteconnect ({kind})", ratio, "x"))
    return rows


if __name__ == "__main__":
    for name, value, unit in run_kite_benches():
        print(f"{name:<58} {value:>14,.1f}  {unit}")
