"""Automatic-exit benchmarks: the tick hot path, tick -> exit order, stall -> polling, memory.

Each benchmark returns rows ``(name, value, unit)`` for ``bench/__main__.py``; none asserts.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from brokers.paper import PaperBroker, PaperSettings, validate_settings
from brokers.paper.instruments import InstrumentMaster, Listing, bundled_instruments
from core.autoexit import AutoExitSettings
from core.broker import BrokerKind
from core.clock import SystemClock
from core.events import Event, EventKind
from core.exits import ExitRule, RuleKind, RuleState, SpikeBuffer
from core.models import ExitSpec, Instrument, InstrumentId, OrderRequest, Product, Side
from core.monitor import MonitorSettings
from core.rule_index import RuleIndex
from core.sync import SyncSettings
from tests.support import paper_config, running_service

Row = tuple[str, float, str]
ACCOUNT = "paper"
TICK = Decimal("0.05")
ROOT = Path(__file__).resolve().parent.parent


# --- helpers -------------------------------------------------------------------------------


class TimedPaperBroker(PaperBroker):
    """The paper broker, noting when ``create_order`` is entered (before anything else runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiter: asyncio.Future[float] | None = None
        self.sells: list[float] = []

    async def create_order(self, request: OrderRequest, client_order_id: str) -> Any:
        entered = time.perf_counter()
        if request.side is Side.SELL:
            self.sells.append(entered)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(entered)
        return await super().create_order(request, client_order_id)


def timed_kind(instruments: InstrumentMaster | None = None) -> BrokerKind:
    """A ``paper`` broker kind building ``TimedPaperBroker`` (optionally on other instruments)."""

    def factory(account: str, settings: Mapping[str, Any]) -> TimedPaperBroker:
        return TimedPaperBroker(
            account,
            PaperSettings.model_validate(dict(settings)),
            clock=SystemClock(),
            instruments=instruments,
        )

    return BrokerKind(name="paper", factory=factory, validate_settings=validate_settings)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * fraction + 0.5) - 1))]


def _round(price: Decimal) -> Decimal:
    return (price / TICK).quantize(Decimal(1)) * TICK


async def _until(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0, step_s: float = 0.002
) -> bool:
    """Poll ``check`` until it holds (True) or the time is up (False)."""
    deadline = time.perf_counter() + timeout_s
    while not await check():
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(step_s)
    return True


async def _open_and_stop(service: Any, instrument: InstrumentId, stop: Decimal) -> ExitRule:
    """Buy 1 (MIS) at market and arm a stop-loss at the absolute price ``stop``."""
    await service.execution.place(
        OrderRequest(ACCOUNT, instrument, Side.BUY, 1, product=Product.MIS)
    )
    rule: ExitRule = await service.desk.exit_rules().set_rule(
        ACCOUNT, instrument, RuleKind.STOP_LOSS, stop, False
    )
    return rule


async def _no_live_rules(service: Any, instrument: InstrumentId) -> bool:
    return not await service.desk.exit_rules().list_rules(ACCOUNT, instrument)


# --- 1. the hot path -----------------------------------------------------------------------


def _bench_rules(
    instruments: list[InstrumentId], bases: list[Decimal]
) -> dict[InstrumentId, list[ExitRule]]:
    """Two rules per instrument: a mix of stop-loss, target and trailing, long and short."""
    now = datetime.now(UTC)
    buffer = SpikeBuffer()  # dwell 0, band 0: every crossing fires on its first tick
    by_instrument: dict[InstrumentId, list[ExitRule]] = {}
    next_id = 1
    for n, (instrument, base) in enumerate(zip(instruments, bases, strict=True)):
        up, down = _round(base * Decimal("1.03")), _round(base * Decimal("0.97"))
        pattern = n % 4
        specs: list[tuple[RuleKind, int, Decimal]]
        if pattern == 0:  # long: stop below, target above
            specs = [(RuleKind.STOP_LOSS, 1, down), (RuleKind.TARGET, 1, up)]
        elif pattern == 1:  # short: stop above, target below
            specs = [(RuleKind.STOP_LOSS, -1, up), (RuleKind.TARGET, -1, down)]
        elif pattern == 2:  # long: trailing 2.5 % behind, target above
            specs = [
                (RuleKind.TRAILING, 1, _round(base * Decimal("0.975"))),
                (RuleKind.TARGET, 1, up),
            ]
        else:  # short: trailing 2.5 % above, stop above
            specs = [
                (RuleKind.TRAILING, -1, _round(base * Decimal("1.025"))),
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
        ticks[k * every] = (instruments[which], _round(bases[which] * factor))
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


# --- 2. tick -> create_order ---------------------------------------------------------------

# The service's default watchdog; exits act on the first crossing tick (as FAST_EXITS).
LATENCY_EXITS = AutoExitSettings(
    monitor=MonitorSettings(),
    buffer=SpikeBuffer(),
    retry_after_s=0.1,
    save_trails_every_s=1.0,
)


async def _background_ticks(
    index: RuleIndex, stop: asyncio.Event, rate: float
) -> tuple[int, float]:
    """Ticks of instruments without rules straight into the index, paced to ``rate`` per s.

    Every millisecond (or whenever the loop lets it run) it plays the ticks due by then, as a
    stream reader would drain what queued up meanwhile. Returns (ticks played, seconds).
    """
    ids = [InstrumentId("NSE", f"LOAD{n:04d}") for n in range(1_000)]
    prices = [Decimal(100 + n % 50) + TICK for n in range(len(ids))]
    on_price = index.on_price
    monotonic = time.monotonic
    start = time.perf_counter()
    sent = 0
    while not stop.is_set():
        await asyncio.sleep(0.001)
        due = int((time.perf_counter() - start) * rate) - sent
        now = monotonic()
        for k in range(sent, sent + due):
            slot = k % 1_000
            on_price(ids[slot], prices[slot], now)
        sent += max(due, 0)
    return sent, time.perf_counter() - start


async def bench_tick_to_order(rounds: int = 9, load_rate: float = 50_000) -> list[Row]:
    """A crossing tick handed to the monitor -> ``PaperBroker.create_order`` entered.

    The whole service runs (SQLite, paper broker, sync, notifier, the monitor's own stream)
    with ~50k background ticks/s. Every NSE paper instrument holds a long position with an
    armed stop-loss; each sample fires one of them, waits until its exit has settled, and
    every round re-arms them all.
    """
    samples: list[float] = []
    stop_load = asyncio.Event()
    with tempfile.TemporaryDirectory() as tmp:
        config = paper_config(Path(tmp), cash=10**12, state_file=None, tick_interval_s=0.5)
        async with running_service(
            config, kinds=[timed_kind()], exits=LATENCY_EXITS, sync=SyncSettings()
        ) as service:
            broker = service.registry.get(ACCOUNT)
            assert isinstance(broker, TimedPaperBroker)
            index = service.autoexits.indexes[ACCOUNT]
            instruments = [i for i in bundled_instruments().ids if i.exchange == "NSE"]
            load = asyncio.create_task(_background_ticks(index, stop_load, load_rate))
            loop = asyncio.get_running_loop()
            timeouts = 0
            for _ in range(rounds):
                stops: dict[InstrumentId, ExitRule] = {}
                for instrument in instruments:
                    last = (await broker.fetch_quotes([instrument]))[instrument].last_price
                    stop = _round(last * Decimal("0.97"))
                    stops[instrument] = await _open_and_stop(service, instrument, stop)
                await asyncio.sleep(0.05)  # let reloads and alerts of the arming pass
                for instrument, rule in stops.items():
                    if instrument not in index.instruments():
                        continue  # the random walk crossed it meanwhile (not seen so far)
                    # Start from a quiet service: alerts delivered, no order in flight.
                    await service.settle(5)
                    await asyncio.sleep(0.005)
                    waiter: asyncio.Future[float] = loop.create_future()
                    broker.waiter = waiter
                    price = rule.trigger - TICK
                    start = time.perf_counter()
                    index.on_price(instrument, price, time.monotonic())
                    try:
                        entered = await asyncio.wait_for(waiter, 5.0)
                    except TimeoutError:
                        timeouts += 1
                        continue
                    finally:
                        broker.waiter = None
                    samples.append((entered - start) * 1000)
                    # Quiet again before the next sample: the exit filled, the rule is DONE.
                    await _until(partial(_no_live_rules, service, instrument))
            stop_load.set()
            played, seconds = await load
            unexpected = len(broker.sells) - len(samples)
            await service.settle(10)
    p50 = statistics.median(samples)
    p99 = _percentile(samples, 0.99)
    return [
        (f"tick -> create_order p50 ({len(samples)} exits)", p50, "ms"),
        (f"tick -> create_order p99 ({len(samples)} exits)", p99, "ms"),
        ("tick -> create_order max", max(samples), "ms"),
        ("tick -> create_order background load", played / seconds, "ticks/s"),
        ("tick -> create_order samples lost (no order in 5 s)", float(timeouts), "samples"),
        ("tick -> create_order unexpected exit orders", float(unexpected), "orders"),
    ]


# --- 3. stall -> polling -------------------------------------------------------------------

STALE_AFTER_S = 0.2
POLL_INTERVAL_S = 0.05
STALL_EXITS = AutoExitSettings(
    monitor=MonitorSettings(
        stale_after_s=STALE_AFTER_S, poll_interval_s=POLL_INTERVAL_S, watchdog_interval_s=0.01
    ),
    buffer=SpikeBuffer(),
    retry_after_s=0.1,
    save_trails_every_s=1.0,
)


async def bench_stall_to_polling(stalls: int = 100, margin_s: float = 0.05) -> list[Row]:
    """Silence the tick stream with a stop crossed at once; time the switch to polling and
    check that the exit is still placed within ``stale_after_s`` + one poll + ``margin_s``.

    A far-away CNC stop-loss on the same instrument stays armed throughout, so the instrument
    stays subscribed between stalls: without it, the MIS stop re-armed after each exit would be
    rechecked against the price polled during the stall (see ``AccountFeed.recheck``) and fire
    at once.
    """
    instrument = InstrumentId("NSE", "INFY")
    switch_s: list[float] = []
    exit_s: list[float] = []
    missed = not_armed = 0
    outside = 0  # FEED_FALLBACK alerts raised while no stall was on
    stalled_at: float | None = None
    fallbacks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = paper_config(Path(tmp), cash=10**12, state_file=None, tick_interval_s=0.05)
        async with running_service(config, kinds=[timed_kind()], exits=STALL_EXITS) as service:
            broker = service.registry.get(ACCOUNT)
            assert isinstance(broker, TimedPaperBroker)
            feed = service.autoexits.feeds[ACCOUNT]
            index = service.autoexits.indexes[ACCOUNT]
            original_alert = feed.alert

            async def timed_alert(event: Event) -> None:
                nonlocal outside
                if event.kind is EventKind.FEED_FALLBACK:
                    if stalled_at is None:
                        outside += 1
                    else:
                        fallbacks.append(time.perf_counter())
                await original_alert(event)

            feed.alert = timed_alert  # the feed's alert hook, wrapped on this instance
            bound = feed.settings.stale_after_s + feed.poll_every_s
            base = bundled_instruments().reference_price(instrument)
            broker.set_price(instrument, base)
            guard = ExitSpec(stop_loss=_round(base / 2))
            await service.execution.place(
                OrderRequest(ACCOUNT, instrument, Side.BUY, 1, product=Product.CNC, exits=guard)
            )

            async def ready() -> bool:
                armed = [r for r in index.rules() if r.instrument == instrument]
                return len(armed) == 2 and instrument not in feed.polled

            async def fired() -> bool:
                return bool(broker.sells)

            async def mis_done() -> bool:
                live = await service.desk.exit_rules().list_rules(ACCOUNT, instrument)
                return all(r.product is not Product.MIS for r in live)

            for _ in range(stalls):
                broker.set_price(instrument, base)
                stop = _round(base * Decimal("0.98"))
                await service.execution.place(
                    OrderRequest(
                        ACCOUNT,
                        instrument,
                        Side.BUY,
                        1,
                        product=Product.MIS,
                        exits=ExitSpec(stop_loss=stop),
                    )
                )
                if not await _until(ready, 5.0, 0.005):
                    not_armed += 1
                    continue
                await asyncio.sleep(0.06)  # a tick or two on the stream first
                fallbacks.clear()
                broker.sells.clear()
                stalled_at = time.perf_counter()
                broker.faults.stall_stream()
                # The quotes move on, unstreamed: 3 % below the stop, beyond the walk's reach.
                broker.set_price(instrument, _round(base * Decimal("0.95")))
                if not await _until(fired, bound + margin_s, 0.001):
                    missed += 1
                    await _until(fired, 5.0)
                if broker.sells:
                    exit_s.append(broker.sells[0] - stalled_at)
                await _until(lambda: _has(fallbacks), 1.0, 0.001)
                if fallbacks:
                    switch_s.append(fallbacks[0] - stalled_at)
                stalled_at = None
                broker.faults.resume_stream()
                await _until(mis_done)
            await service.settle(10)
    return [
        (
            f"stall -> polling p50 ({len(switch_s)} stalls)",
            statistics.median(switch_s) * 1000,
            "ms",
        ),
        ("stall -> polling max", max(switch_s) * 1000, "ms"),
        ("stall -> polling bound (stale_after + 1 poll)", bound * 1000, "ms"),
        ("stall -> exit order p50", statistics.median(exit_s) * 1000, "ms"),
        ("stall -> exit order max", max(exit_s) * 1000, "ms"),
        (
            f"stall missed exits (none within bound + {margin_s * 1000:g} ms)",
            float(missed),
            "stalls",
        ),
        ("stall rounds not armed in 5 s (skipped)", float(not_armed), "stalls"),
        ("stall fallback alerts outside stalls", float(outside), "alerts"),
    ]


async def _has(items: list[float]) -> bool:
    return bool(items)


# --- 4. memory -----------------------------------------------------------------------------


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
                    rule = replace(
                        auto.new_rule(
                            ACCOUNT, instrument, product, kind, direction, _round(base * factor)
                        ),
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
    code = f"from bench.exits import memory_main; memory_main({rules}, {instruments})"
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


async def run_exit_benches() -> list[Row]:
    rows = bench_monitor_ticks()
    rows.extend(await bench_tick_to_order())
    rows.extend(await bench_stall_to_polling())
    rows.extend(await bench_memory())
    return rows
