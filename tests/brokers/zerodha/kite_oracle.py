"""The official Kite client's frame parser as a differential-test oracle.

Run by the interpreter of ``.venv-oracle`` (``make oracle``), never imported by the service or the
tests: ``kiteconnect`` 5.2.2 pins 2019-era autobahn and Twisted, and importing it installs
Twisted's global reactor. The caller sets ``TZ=UTC``, because the client turns timestamps into
naive local datetimes.

    python kite_oracle.py             stdin: one base64 frame a line
                                      stdout: one JSON object a frame, ``{"ticks": [...]}`` with
                                      timestamps as epoch seconds, or ``{"error": "..."}``
    python kite_oracle.py --bench N   stdin: ``NAME BASE64`` lines; frames of one name form a set
                                      stdout: ``{NAME: {"seconds": {READ: S}, "packets": P}}``, S
                                      the best of N timed passes over the set, parsing each frame
                                      and then reading what ``READ`` says (``READS``)
"""

from __future__ import annotations

import base64
import calendar
import json
import sys
import time
from datetime import datetime
from typing import Any


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes as epoch seconds (naive, in the process TZ, which is UTC)."""
    if isinstance(value, datetime):
        return calendar.timegm(value.timetuple())
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _parser() -> Any:
    from kiteconnect import KiteTicker  # only this interpreter has it

    ticker = KiteTicker.__new__(KiteTicker)  # the parser needs no connection state
    return ticker._parse_binary


def parse_each(lines: list[str]) -> None:
    parse = _parser()
    out = sys.stdout
    for line in lines:
        try:
            result: dict[str, Any] = {"ticks": _plain(parse(base64.b64decode(line)))}
        except Exception as exc:  # the test compares failures too
            result = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(result) + "\n")


def read_monitor(ticks: list[dict[str, Any]]) -> None:
    """What the tick monitor reads of a tick: token, price, exchange time and volume."""
    for tick in ticks:
        _ = tick["instrument_token"], tick["last_price"]
        _ = tick.get("exchange_timestamp"), tick.get("volume_traded")


def read_all(ticks: list[dict[str, Any]]) -> None:
    """Every value of every tick, the depth levels' too (the dicts are built already)."""
    for tick in ticks:
        for value in tick.values():
            if type(value) is dict:
                for inner in value.values():
                    if type(inner) is list:  # depth: {"buy": [level, ...], "sell": [...]}
                        for level in inner:
                            _ = level["quantity"], level["price"], level["orders"]


READS = {"monitor": read_monitor, "all": read_all}


def bench(lines: list[str], repeat: int) -> None:
    parse = _parser()
    sets: dict[str, list[bytes]] = {}
    for line in lines:
        name, _, encoded = line.partition(" ")
        sets.setdefault(name, []).append(base64.b64decode(encoded))
    report = {}
    for name, frames in sets.items():
        seconds = {}
        for read_name, read in READS.items():
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                for frame in frames:
                    read(parse(frame))
                best = min(best, time.perf_counter() - start)
            seconds[read_name] = best
        packets = sum(len(parse(frame)) for frame in frames)
        report[name] = {"seconds": seconds, "packets": packets}
    print(json.dumps(report))


def main(argv: list[str]) -> int:
    lines = sys.stdin.read().splitlines()  # an empty line is an empty frame
    if argv[:1] == ["--bench"]:
        bench(lines, int(argv[1]) if len(argv) > 1 else 3)
    else:
        parse_each(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
