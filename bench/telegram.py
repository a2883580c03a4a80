"""Telegram front-end benchmarks: the whole service behind the real python-telegram-bot,
against the fake Bot API on loopback.

* "Telegram -> broker": a Confirm press pushed into the fake -> ``PaperBroker.create_order``
  entered. It covers the real long-poll wakeup (``getUpdates`` answers as soon as an update is
  queued), PTB's decoding and dispatch, ``answerCallbackQuery`` (answered before acting) and
  the desk down to the broker.
* "message -> ticket": a ``/buy`` pushed into the fake -> the fake recording the ticket's
  ``sendMessage``.

Each order starts from a quiet service (the previous order filled, its alerts delivered).
Returns rows ``(name, value, unit)`` for ``bench/__main__.py``; nothing asserts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import TimedPaperBroker, percentile, timed_kind
from bot.app import telegram_service
from tests.fakes.telegram import Call, FakeTelegram
from tests.support import FAST_EXITS, paper_config

# Durations as timedeltas (PTB's coming default) and never a proxy for loopback.
os.environ["PTB_TIMEDELTA"] = "1"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

Row = tuple[str, float, str]
OWNER = 111
TOKEN = "424242:BENCH-token"
WARMUP = 10  # unmeasured orders first: connections opened, caches warm
BUDGET_S = 55.0  # measured orders stop here (the service's start and stop come on top)
MIN_ORDERS = 300


def _is_ticket(call: Call) -> bool:
    """The owner's ticket: a successful sendMessage with a Confirm button."""
    if call.status != 200 or call.params.get("chat_id") != OWNER:
        return False
    markup = call.params.get("reply_markup")
    if not isinstance(markup, dict):
        return False
    return any(b.get("text") == "Confirm" for row in markup.get("inline_keyboard", []) for b in row)


async def _one_order(
    fake: FakeTelegram, broker: TimedPaperBroker, side: str
) -> tuple[float, float] | None:
    """One ``/buy``|``/sell`` and its Confirm; (message -> ticket, press -> broker) in ms."""
    loop = asyncio.get_running_loop()
    start = fake.mark()
    sent_at = time.monotonic()  # the fake stamps calls with time.monotonic()
    fake.send_text(OWNER, f"/{side} INFY 1 product=MIS")
    [ticket] = await fake.wait_for("sendMessage", _is_ticket, start=start)
    to_ticket = (ticket.at - sent_at) * 1000
    waiter: asyncio.Future[float] = loop.create_future()
    broker.waiter = waiter
    try:
        pressed = time.perf_counter()
        fake.press(OWNER, ticket, "Confirm")
        entered = await asyncio.wait_for(waiter, 5.0)
    except TimeoutError:
        return None
    finally:
        broker.waiter = None
    return to_ticket, (entered - pressed) * 1000


async def bench_telegram_to_broker(count: int = 1_000, budget_s: float = BUDGET_S) -> list[Row]:
    """``count`` orders (or as many as fit in ``budget_s``, at least ``MIN_ORDERS``)."""
    to_ticket: list[float] = []
    to_broker: list[float] = []
    lost = unsettled = 0
    # PTB logs every getUpdates at INFO in places; keep the table readable.
    quiet = [logging.getLogger(name) for name in ("httpx", "telegram", "aiohttp.access")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with FakeTelegram(TOKEN) as fake:
                # The one tick (none for 60 s) offers book_size units a side: 500 by default,
                # so the 1,001st market order would wait for the next tick. Make it unlimited.
                config = paper_config(
                    Path(tmp),
                    cash=10**12,
                    state_file=None,
                    book_size=10**9,
                    telegram={"token": TOKEN, "api_url": fake.api_url, "owners": str(OWNER)},
                )
                async with telegram_service(
                    config,
                    kinds=[timed_kind()],
                    exit_settings=FAST_EXITS,
                    pace_s=0,
                    poll_timeout_s=1,
                ) as (service, _front):
                    await fake.wait_for("getUpdates")
                    broker = service.registry.get("paper")
                    assert isinstance(broker, TimedPaperBroker)
                    for k in range(WARMUP):
                        await _one_order(fake, broker, "buy" if k % 2 == 0 else "sell")
                        await service.settle(5)
                    began = time.perf_counter()
                    n = 0
                    while n < count:
                        if n >= MIN_ORDERS and time.perf_counter() - began > budget_s:
                            break
                        sample = await _one_order(fake, broker, "buy" if n % 2 == 0 else "sell")
                        n += 1
                        if sample is None:
                            lost += 1
                        else:
                            to_ticket.append(sample[0])
                            to_broker.append(sample[1])
                        # Quiet before the next order: filled, alerts and ticket edits sent.
                        if not await service.settle(5):
                            unsettled += 1
                    elapsed = time.perf_counter() - began
                    await service.settle(10)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    done = len(to_broker)
    return [
        (f"Telegram -> broker p50 ({done} orders)", statistics.median(to_broker), "ms"),
        (f"Telegram -> broker p99 ({done} orders)", percentile(to_broker, 0.99), "ms"),
        ("Telegram -> broker max", max(to_broker), "ms"),
        (f"message -> ticket p50 ({done} orders)", statistics.median(to_ticket), "ms"),
        (f"message -> ticket p99 ({done} orders)", percentile(to_ticket, 0.99), "ms"),
        ("Telegram orders attempted (of requested)", float(n), f"of {count}"),
        ("Telegram orders per second (incl. settling)", n / elapsed, "orders/s"),
        ("Telegram samples lost (no create_order in 5 s)", float(lost), "orders"),
        ("Telegram orders not settled in 5 s", float(unsettled), "orders"),
    ]


async def run_telegram_benches() -> list[Row]:
    return await bench_telegram_to_broker()
