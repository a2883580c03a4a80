"""Core benchmarks: command parsing, the state machine, and confirm -> broker latency."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bench.exits import run_exit_benches
from bench.harness import percentile
from bench.kite import run_kite_benches
from bench.telegram import run_telegram_benches
from bot.commands import parse
from bot.handlers import UserContext, handle_button, handle_text
from core.domain.models import InstrumentId, Order, OrderRequest, OrderStatus, Side
from core.domain.order_fsm import OrderEvent, OrderEventKind, apply
from tests.support import paper_config, running_service

Row = tuple[str, float, str]
OWNER = UserContext(user_id=1, chat_id=1)


def bench_parse(count: int = 50_000) -> Row:
    lines = [
        "/buy RELIANCE 10",
        "/sell NSE:INFY 25 @1510.5 sl=1560 tp=3% product=MIS",
        "/modify abc123 price=101.25 qty=5",
        "/positions on=paper",
    ]
    start = time.perf_counter()
    for n in range(count):
        parse(lines[n % len(lines)])
    elapsed = time.perf_counter() - start
    return ("command parse", count / elapsed, "commands/s")


def bench_state_machine(count: int = 200_000) -> Row:
    now = datetime.now(UTC)
    request = OrderRequest("paper", InstrumentId("NSE", "INFY"), Side.BUY, count + 1)
    order = Order("pd1", request, OrderStatus.OPEN, now, now, broker_order_id="B1")
    event = OrderEvent(OrderEventKind.FILL, fill_quantity=1, fill_price=Decimal("100.05"))
    start = time.perf_counter()
    for _ in range(count):
        order = apply(order, event, now)
    elapsed = time.perf_counter() - start
    return ("order state machine apply", count / elapsed, "events/s")


async def bench_confirm_to_broker(count: int = 1000) -> list[Row]:
    """A Confirm press -> the order accepted by the paper broker and stored, end to end."""
    with tempfile.TemporaryDirectory() as tmp:
        config = paper_config(Path(tmp), cash=10**12, state_file=None)
        async with running_service(config) as service:
            samples: list[float] = []
            for n in range(count):
                side = "buy" if n % 2 == 0 else "sell"
                [ticket] = await handle_text(service.desk, OWNER, f"/{side} INFY 1 product=MIS")
                data = ticket.buttons[0][0].data
                start = time.perf_counter()
                await handle_button(service.desk, OWNER, data)
                samples.append((time.perf_counter() - start) * 1000)
            await service.settle(10)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = percentile(samples, 0.99)
    return [
        (f"confirm -> broker p50 ({count} orders)", p50, "ms"),
        (f"confirm -> broker p99 ({count} orders)", p99, "ms"),
    ]


async def run_all() -> list[Row]:
    rows = [bench_parse(), bench_state_machine()]
    rows.extend(await bench_confirm_to_broker())
    rows.extend(await run_exit_benches())
    rows.extend(await run_telegram_benches())
    rows.extend(run_kite_benches())
    return rows
