"""``PaperBroker`` as core sees it: the ``Broker`` protocol, streams, lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TypeVar

import pytest

from brokers.paper import PaperBroker
from brokers.paper.broker import Subscription
from core.broker import Broker, OrderUpdate
from core.domain.clock import ManualClock
from core.domain.errors import NotFound
from core.domain.models import Heartbeat, InstrumentId, OrderStatus, OrderType, Product, Side, Tick
from tests.brokers.paper import AAA, ACCOUNT, BBB, quiet_settings, request, small_master

D = Decimal
T = TypeVar("T")
WAIT_S = 5.0  # generous: a bound for waiting, never a speed claim


def make_broker(**overrides: object) -> PaperBroker:
    return PaperBroker(
        ACCOUNT, quiet_settings(**overrides), clock=ManualClock(), instruments=small_master()
    )


async def take(stream: AsyncIterator[T], count: int) -> list[T]:
    """The next ``count`` items, failing the test if they do not come within ``WAIT_S``."""

    async def collect() -> list[T]:
        return [await anext(stream) for _ in range(count)]

    return await asyncio.wait_for(collect(), WAIT_S)


async def take_ticks(stream: AsyncIterator[Tick | Heartbeat], count: int) -> list[Tick]:
    """The next ``count`` ticks, skipping the heartbeats between them, within ``WAIT_S``."""

    async def collect() -> list[Tick]:
        ticks: list[Tick] = []
        while len(ticks) < count:
            item = await anext(stream)
            if isinstance(item, Tick):
                ticks.append(item)
        return ticks

    return await asyncio.wait_for(collect(), WAIT_S)


async def drain(stream: AsyncIterator[T]) -> list[T]:
    return [item async for item in stream]


def pending(stream: AsyncIterator[T]) -> int:
    assert isinstance(stream, Subscription)
    return stream._queue.qsize()


async def test_paper_broker_implements_the_broker_protocol() -> None:
    broker = make_broker()

    assert isinstance(broker, Broker)
    assert broker.account == ACCOUNT
    assert broker.default_exchange == "NSE"
    assert broker.capabilities.order_types == frozenset(OrderType)
    assert broker.capabilities.products == frozenset(Product)
    assert broker.capabilities.exchanges == {"NSE", "NASDAQ"}


async def test_create_order_returns_the_filled_report_and_streams_every_update() -> None:
    broker = make_broker()
    updates = broker.stream_order_updates()

    report = await broker.create_order(request(quantity=5), "c-1")
    received = await take(updates, 2)

    assert report.status is OrderStatus.FILLED
    assert [u.report.status for u in received] == [OrderStatus.OPEN, OrderStatus.FILLED]
    assert received[1].fill is not None and received[1].fill.quantity == 5
    assert await broker.fetch_fills() == [received[1].fill]


async def test_every_subscriber_gets_every_update_and_a_closed_one_is_dropped() -> None:
    broker = make_broker()
    first, second = broker.stream_order_updates(), broker.stream_order_updates()
    assert len(broker.order_updates) == 2

    await broker.create_order(request(quantity=5), "c-1")
    got_first: list[OrderUpdate] = await take(first, 2)
    got_second: list[OrderUpdate] = await take(second, 2)

    assert got_first == got_second
    assert isinstance(second, Subscription)
    await second.aclose()
    assert len(broker.order_updates) == 1
    await broker.create_order(request(quantity=5), "c-2")
    assert pending(first) == 2 and pending(second) == 0


async def test_tick_streams_carry_only_the_instruments_asked_for() -> None:
    broker = make_broker()
    ticks = broker.stream_ticks([BBB])

    broker.set_price(AAA, "101")
    broker.set_price("BBB", D("201.02"))  # a bare symbol takes the default exchange

    [only] = await take(ticks, 1)
    assert (only.instrument, only.last_price) == (BBB, D("201.00"))  # rounded to the tick
    assert pending(ticks) == 0


async def test_set_price_fills_resting_orders_like_a_feed_tick() -> None:
    broker = make_broker()
    await broker.create_order(request(order_type=OrderType.LIMIT, price="99.00"), "l")

    broker.set_price(AAA, "98.50")

    report = await broker.fetch_order("P000001")
    assert (report.status, report.average_price) == (OrderStatus.FILLED, D("99.00"))
    assert await broker.fetch_open_orders() == []


async def test_reads_reflect_orders_positions_balance_and_quotes() -> None:
    broker = make_broker(cash=D(100_000))
    await broker.create_order(request(quantity=10), "buy")
    await broker.create_order(request(order_type=OrderType.LIMIT, price="90.00"), "rest")
    broker.set_price(AAA, "104")

    [position] = await broker.fetch_positions()
    balance = await broker.fetch_balance()
    quotes = await broker.fetch_quotes([AAA, BBB])

    assert (position.quantity, position.average_price, position.last_price) == (10, D(100), D(104))
    assert position.unrealised_pnl == D(40)
    assert (balance.cash, balance.used_margin, balance.available) == (D(99_000), D(900), D(98_100))
    assert balance.currency == "INR"
    assert quotes[AAA].last_price == D("104.00") and quotes[BBB].last_price == D("200.00")
    assert [o.client_order_id for o in await broker.fetch_orders()] == ["buy", "rest"]
    assert [o.client_order_id for o in await broker.fetch_open_orders()] == ["rest"]


async def test_fetch_order_by_client_id_finds_the_order_or_returns_none() -> None:
    broker = make_broker()
    await broker.create_order(request(side=Side.SELL), "no-stock")

    found = await broker.fetch_order_by_client_id("no-stock")

    assert found is not None and found.status is OrderStatus.REJECTED
    assert await broker.fetch_order_by_client_id("never-sent") is None


async def test_unknown_instruments_raise_not_found_everywhere() -> None:
    broker = make_broker()
    nope = InstrumentId("NSE", "NOPE")

    with pytest.raises(NotFound):
        await broker.create_order(request(instrument=nope), "x")
    with pytest.raises(NotFound):
        await broker.fetch_instrument(nope)
    with pytest.raises(NotFound):
        await broker.fetch_quotes([AAA, nope])
    with pytest.raises(NotFound):
        broker.stream_ticks([nope])
    with pytest.raises(NotFound):
        await broker.fetch_order("P000001")
    assert await broker.fetch_orders() == []


async def test_latency_delays_the_answer_to_writes() -> None:
    broker = make_broker(latency_s=0.05)
    loop = asyncio.get_running_loop()

    started = loop.time()
    await broker.create_order(request(), "slow")

    assert loop.time() - started >= 0.04  # a lower bound only: the delay happened


async def test_random_feed_moves_prices_and_close_leaves_no_task_running() -> None:
    broker = make_broker(tick_interval_s=0.01)
    ticks = broker.stream_ticks([AAA, BBB])

    await broker.connect()
    await broker.connect()  # a second connect does not start a second feed
    feed_tasks = [t for t in asyncio.all_tasks() if "price feed" in t.get_name()]
    received = await take_ticks(ticks, 4)
    await broker.close()

    assert len(feed_tasks) == 1
    assert {t.instrument for t in received} == {AAA, BBB}
    assert asyncio.all_tasks() == {asyncio.current_task()}
    await asyncio.wait_for(drain(ticks), WAIT_S)  # the stream ends instead of hanging


async def test_close_ends_every_stream_so_consumers_finish() -> None:
    broker = make_broker()
    updates = broker.stream_order_updates()

    consumer = asyncio.create_task(drain(updates), name="test consumer")
    await broker.create_order(request(), "one")
    await broker.close()

    assert len(await asyncio.wait_for(consumer, WAIT_S)) == 2
    assert len(broker.order_updates) == 0


async def test_async_with_connects_and_closes() -> None:
    async with make_broker(tick_interval_s=0.01) as broker:
        assert any("price feed" in t.get_name() for t in asyncio.all_tasks())
        assert broker.account == ACCOUNT
    assert asyncio.all_tasks() == {asyncio.current_task()}
