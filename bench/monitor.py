"""Exit-monitor benchmarks: ``RuleIndex`` throughput on the tick hot path, and the memory of a
service holding many armed rules.

Each benchmark returns rows ``(name, value, unit)`` for ``bench/__main__.py``; none asserts.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.harness import ACCOUNT, TICK, Row, round_to_tick, timed_kind
from brokers.paper.instruments import InstrumentMaster, Listing, bundled_instruments
from core.domain.exit_rules import ExitRule, RuleKind, RuleState, SpikeBuffer
from core.domain.models import Instrument, InstrumentId, Product
from core.rule_index import RuleIndex
from tests.support import paper_config, running_service

ROOT = Path(__file__).resolve().parent.parent


# --- the hot path --------------------------------------------------------------------------


def _bench_rules(
    instruments: list[InstrumentId], bases: list[Decimal]
) -> dict[InstrumentId, list[ExitRule]]:
    """Two rules per instrument: a mix of stop-loss, target and trailing, long and short."""
    now = datetime.now(UTC)
    buffer = SpikeBuffer()  # dwell 0, band 0: every crossing fires on its first tick
    by_instrument: dict[InstrumentId, list[ExitRule]] = {}
    next_id = 1
    for n, (instrument, base) in enumerate(zip(instruments, bases, strict=True)):
        up, down = round_to_tick(base * Decimal("1.03")), round_to_tick(base * Decimal("0.97"))
        pattern = n % 4
        specs: list[tuple[RuleKind, int, Decimal]]
        if pattern == 0:  # long: stop below, target above
            specs = [(RuleKind.STOP_LOSS, 1, down), (RuleKind.TARGET, 1, up)]
        elif pattern == 1:  # short: stop above, target below
            specs = [(RuleKind.STOP_LOSS, -1, up), (RuleKind.TARGET, -1, down)]
        elif pattern == 2:  # long: trailing 2.5 % behind, target above
            specs = [
                (RuleKind.TRAILING, 1, round_to_tick(base * Decimal("0.975"))),
                (RuleKind.TARGET, 1, up),
            ]
        else:  # short: trailing 2.5 % above, stop above
            specs = [
                (RuleKind.TRAILING, -1, round_to_tick(base * Decimal("1.025"))),
                (RuleKind.STOP_LOSS, -1, up),
            ]
        rules = []
        for kind, direction, trigger in specs:
            trailing = kind is RuleKind.TRAILING
            rules.append(
                ExitRule(
                    id=next_id,
                    account=ACCOUNT,
                    instrument=instrument,
                    product=Product.MIS,
                    kind=kind,
                    direction=direction,
                    trigger=trigger,
                    quantity=1,
                    state=RuleState.ARMED,
                    created_at=now,
                    updated_at=now,
                    trail_value=Decimal("2.5") if trailing else None,
                    trail_percent=trailing,
                    anchor=base if trailing else None,
                    buffer=buffer,
                )
            )
            next_id += 1
        by_instrument[instrument] = rules
    return by_instrument


def _bench_ticks(
    instruments: list[InstrumentId], bases: list[Decimal], count: int, spikes: int, seed: int = 11
) -> list[tuple[InstrumentId, Decimal]]:
    """A random walk per instrument, clipped to +-1 % of its base (inside every calm band,
    except that new extremes move trailing anchors), with ``spikes`` ticks crossing a rule."""
    rng = random.Random(seed)
    n = len(instruments)
    limits = [max(1, int(base * Decimal("0.01") / TICK)) for base in bases]
    offsets = [0] * n
    cache: dict[tuple[int, int], Decimal] = {}  # shared Decimal objects keep the list small
    ticks: list[tuple[InstrumentId, Decimal]] = []
    append = ticks.append
    choices = rng.choices(range(n), k=count)
    steps = rng.choices((-1, 0, 1), k=count)
    for which, step in zip(choices, steps, strict=True):
        offset = max(-limits[which], min(limits[which], offsets[which] + step))
        offsets[which] = offset
        key = (which, offset)
        price = cache.get(key)
        if price is None:
            price = cache[key] = bases[which] + offset * TICK
        append((instruments[which], price))
    every = count // (spikes + 1)
    for k in range(1, spikes + 1):
        which = rng.randrange(n)
        # 5 % away crosses one rule of every pattern (a stop, a target or a trailing stop).
        factor = Decimal("0.95") if rng.random() < 0.5 else Decimal("1.05")
        ticks[k * every] = (instruments[which], round_to_tick(bases[which] * factor))
    return ticks


def bench_monitor_ticks(
    count: int = 2_000_000, instruments: int = 500, spikes: int = 50
) -> list[Row]:
    """``RuleIndex.on_price`` throughput: 1,000 armed rules on 500 instruments, one core."""
    rng = random.Random(5)
    ids = [InstrumentId("NSE", f"SYM{n:04d}") for n in range(instruments)]
    bases = [Decimal(rng.randrange(2_000, 100_000)) * TICK for _ in ids]  # 100.00 .. 5000.00
    rules = _bench_rules(ids, bases)
    ticks = _bench_ticks(ids, bases, count, spikes)

    fired = 0

    def on_fire(rule: ExitRule, price: Decimal) -> None:
        nonlocal fired
        fired += 1

    index = RuleIndex(on_fire)
    for instrument, armed in rules.items():
        index.replace_instrument(instrument, armed)
    armed_before = len(index)

    # Count slow-path walks by wrapping the bound method on this instance (core unchanged);
    # the wrapper costs one extra call per slow-path tick only.
    slow = 0
    evaluate = index._evaluate

    def counting(*args: Any) -> None:
        nonlocal slow
        slow += 1
        evaluate(*args)

    index._evaluate = counting  # type: ignore[method-assign, assignment]

    on_price = index.on_price
    now = 0.0
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for instrument, price in ticks:
            on_price(instrument, price, now)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    del ticks
    return [
        (f"monitor ticks/s ({count:,} ticks, {armed_before:,} rules)", count / elapsed, "ticks/s"),
        ("monitor ns per tick", elapsed / count * 1e9, "ns"),
        ("monitor slow-path evaluations", float(slow), "ticks"),
        ("monitor slow-path share", slow / count * 100, "%"),
        ("monitor rules fired (spike ticks)", float(fired), "rules"),
    ]


# --- memory --------------------------------------------------------------------------------


def _memory_instruments(count: int) -> InstrumentMaster:
    """The bundled instruments plus ``count`` made-up NSE ones, so the feed can subscribe."""
    extra = [
        Listing(Instrument(InstrumentId("NSE", f"MEM{n:05d}"), TICK), Decimal(100 + n % 900))
        for n in range(count)
    ]
    return InstrumentMaster([*bundled_instruments(), *extra])


def _vm(field: str) -> float:
    """A ``/proc/self/status`` size in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _memory_run(rules: int, instruments: int) -> dict[str, float]:
    master = _memory_instruments(instruments)
    ids = [i for i in master.ids if i.symbol.startswith("MEM")]
    kinds = [
        (RuleKind.STOP_LOSS, Product.MIS, 1, Decimal("0.97")),
        (RuleKind.TARGET, Product.MIS, 1, Decimal("1.03")),
        (RuleKind.TRAILING, Product.MIS, 1, Decimal("0.975")),
        (RuleKind.STOP_LOSS, Product.CNC, -1, Decimal("1.03")),
        (RuleKind.TARGET, Product.CNC, -1, Decimal("0.97")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = paper_config(Path(tmp), cash=10**12, state_file=None)
        async with running_service(config, kinds=[timed_kind(master)]) as service:
            gc.collect()
            idle = _vm("VmRSS")
            auto = service.autoexits
            async with service.db.transaction() as tx:
                for n in range(rules):
                    instrument = ids[n % len(ids)]
                    kind, product, direction, factor = kinds[(n // len(ids)) % len(kinds)]
                    base = master.reference_price(instrument)
                    trailing = kind is RuleKind.TRAILING
                    trigger = round_to_tick(base * factor)
                    rule = replace(
                        auto.new_rule(ACCOUNT, instrument, product, kind, direction, trigger),
                        quantity=1,
                        anchor=base if trailing else None,
                        trail_value=Decimal("2.5") if trailing else None,
                        trail_percent=trailing,
                    )
                    await auto.rules.insert(tx, rule)
            await auto.load()
            await asyncio.sleep(1.0)  # the feed resubscribes to every instrument
            gc.collect()
            return {
                "idle": idle,
                "rss": _vm("VmRSS"),
                "hwm": _vm("VmHWM"),
                "indexed": float(len(auto.indexes[ACCOUNT])),
                "watched": float(len(auto.indexes[ACCOUNT].instruments())),
                "subscribed": float(len(getattr(auto.feeds[ACCOUNT], "_subscribed", ()))),
            }


def memory_main(rules: int = 10_000, instruments: int = 2_000) -> None:
    """Entry point of the fresh subprocess: print the numbers as one JSON line."""
    print(json.dumps(asyncio.run(_memory_run(rules, instruments))))


async def bench_memory(rules: int = 10_000, instruments: int = 2_000) -> list[Row]:
    """Resident memory of a fresh process running the service with ``rules`` armed rules."""
    code = f"from bench.monitor import memory_main; memory_main({rules}, {instruments})"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return [
        (f"memory RSS, {int(result['indexed']):,} armed rules", result["rss"], "MB"),
        ("memory peak RSS (VmHWM)", result["hwm"], "MB"),
        ("memory RSS, service idle before the rules", result["idle"], "MB"),
        ("memory instruments with armed rules", result["watched"], "instruments"),
        ("memory instruments subscribed by the feed", result["subscribed"], "instruments"),
    ]
