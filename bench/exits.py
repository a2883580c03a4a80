"""Automatic-exit benchmarks: tick -> exit order, stall -> polling; ``run_exit_benches`` runs
these and the exit-monitor ones of ``bench/monitor.py`` (hot path, memory).

Each benchmark returns rows ``(name, value, unit)`` for ``bench/__main__.py``; none asserts.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from bench.harness import (
    ACCOUNT,
    TICK,
    Row,
    TimedPaperBroker,
    percentile,
    round_to_tick,
    timed_kind,
)
from bench.monitor import bench_memory, bench_monitor_ticks
from brokers.paper.instruments import bundled_instruments
from core.autoexit import AutoExitSettings
from core.domain.alerts import Event, EventKind
from core.domain.exit_rules import ExitRule, RuleKind, SpikeBuffer
from core.domain.models import ExitSpec, InstrumentId, OrderRequest, Product, Side
from core.monitor import MonitorSettings
from core.orders.sync import SyncSettings
from core.rule_index import RuleIndex
from tests.support import paper_config, running_service

# --- helpers -------------------------------------------------------------------------------


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


# --- tick -> create_order ------------------------------------------------------------------

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
                    stop = round_to_tick(last * Decimal("0.97"))
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
    p99 = percentile(samples, 0.99)
    return [
        (f"tick -> create_order p50 ({len(samples)} exits)", p50, "ms"),
        (f"tick -> create_order p99 ({len(samples)} exits)", p99, "ms"),
        ("tick -> create_order max", max(samples), "ms"),
        ("tick -> create_order background load", played / seconds, "ticks/s"),
        ("tick -> create_order samples lost (no order in 5 s)", float(timeouts), "samples"),
        ("tick -> create_order unexpected exit orders", float(unexpected), "orders"),
    ]


# --- stall -> polling ----------------------------------------------------------------------

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
            guard = ExitSpec(stop_loss=round_to_tick(base / 2))
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
                stop = round_to_tick(base * Decimal("0.98"))
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
                broker.set_price(instrument, round_to_tick(base * Decimal("0.95")))
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


async def run_exit_benches() -> list[Row]:
    """Every exit benchmark: the hot path, tick -> order, stall -> polling, then memory."""
    rows = bench_monitor_ticks()
    rows.extend(await bench_tick_to_order())
    rows.extend(await bench_stall_to_polling())
    rows.extend(await bench_memory())
    return rows
