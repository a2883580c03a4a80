"""Heartbeats and injected faults: what a caller of the paper broker sees, and ``clear()``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from brokers.paper import PaperBroker
from brokers.paper.faults import RMS_REASON
from core.broker import OrderUpdate
from core.domain.clock import ManualClock
from core.domain.errors import (
    AuthenticationFailed,
    BrokerRejected,
    BrokerUnavailable,
    OutcomeUnknown,
)
from core.domain.models import Heartbeat, InstrumentId, OrderStatus, OrderType, Tick
from tests.brokers.paper import AAA, ACCOUNT, BBB, quiet_settings, request, small_master

D = Decimal
T = TypeVar("T")
WAIT_S = 5.0  # generous: a bound for waiting, never a speed claim
QUIET_S = 0.3  # how long a silent stream is watched to stay silent
FAST_TICK_S = 0.02
NEVER_S = 3600.0  # a delay no test waits out
POLL_S = 0.005


def make_broker(**overrides: object) -> PaperBroker:
    return PaperBroker(
        ACCOUNT, quiet_settings(**overrides), clock=ManualClock(), instruments=small_master()
    )


async def next_item(stream: AsyncIterator[T]) -> T:
    return await asyncio.wait_for(anext(stream), WAIT_S)


async def next_tick(stream: AsyncIterator[Tick | Heartbeat]) -> Tick:
    """The next tick, skipping heartbeats, within ``WAIT_S``."""

    async def first_tick() -> Tick:
        while not isinstance(item := await anext(stream), Tick):
            pass
        return item

    return await asyncio.wait_for(first_tick(), WAIT_S)


async def stays_silent(stream: AsyncIterator[object]) -> bool:
    """Whether the stream delivers nothing for ``QUIET_S``."""
    try:
        await asyncio.wait_for(anext(stream), QUIET_S)
    except TimeoutError:
        return True
    return False


async def statuses(updates: AsyncIterator[OrderUpdate], count: int) -> list[OrderStatus]:
    return [(await next_item(updates)).report.status for _ in range(count)]


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds, failing the test after ``WAIT_S``."""
    async with asyncio.timeout(WAIT_S):
        while True:
            if await check():
                return
            await asyncio.sleep(POLL_S)


async def prices(broker: PaperBroker) -> dict[InstrumentId, Decimal]:
    quotes = await broker.fetch_quotes([AAA, BBB])
    return {iid: quote.last_price for iid, quote in quotes.items()}


# ------------------------------------------------------------------------------ heartbeats


async def test_a_stream_of_instruments_that_never_tick_still_gets_a_heartbeat_per_step() -> None:
    async with make_broker(tick_interval_s=FAST_TICK_S) as broker:
        quiet = broker.stream_ticks([])

        received = [await next_item(quiet) for _ in range(3)]

    assert all(isinstance(item, Heartbeat) for item in received)


async def test_a_csv_feed_with_no_lines_beats_anyway(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    async with make_broker(feed=f"file:{path}") as broker:
        stream = broker.stream_ticks([AAA])

        assert isinstance(await next_item(stream), Heartbeat)


# ------------------------------------------------------------------------------ stalls


async def test_a_stalled_stream_is_silent_while_prices_move_and_flows_again_on_resume() -> None:
    async with make_broker(tick_interval_s=FAST_TICK_S) as broker:
        ticks = broker.stream_ticks([AAA, BBB])
        await next_tick(ticks)

        broker.faults.stall_stream()
        before = await prices(broker)

        async def moved() -> bool:
            return await prices(broker) != before

        await eventually(moved)  # the feed goes on while the stream says nothing
        assert await stays_silent(ticks)

        broker.faults.resume_stream()
        assert isinstance(await next_tick(ticks), Tick)


async def test_a_stall_loses_what_was_queued_and_sent_but_orders_still_work() -> None:
    broker = make_broker()
    ticks = broker.stream_ticks([AAA])
    updates = broker.stream_order_updates()
    await broker.create_order(request(order_type=OrderType.LIMIT, price="99.00"), "rest")
    broker.set_price(AAA, "100.50")  # queued, not yet read

    broker.faults.stall_stream()
    broker.set_price(AAA, "98.00")
    assert broker.faults.stalled

    assert await stays_silent(ticks)
    assert (await prices(broker))[AAA] == D("98.00")
    assert await statuses(updates, 2) == [OrderStatus.OPEN, OrderStatus.FILLED]
    broker.faults.resume_stream()
    broker.set_price(AAA, "97.00")
    tick = await next_tick(ticks)
    assert tick.last_price == D("97.00")  # 100.50 and 98.00 are never replayed


async def test_the_configured_stall_cycle_stalls_and_resumes_until_close() -> None:
    broker = make_broker(faults={"stall_every_s": 0.02, "stall_for_s": 0.02})
    seen: set[bool] = set()

    async with broker:
        async with asyncio.timeout(WAIT_S):
            while seen != {True, False}:
                seen.add(broker.faults.stalled)
                await asyncio.sleep(POLL_S)

    assert not broker.faults.stalled
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_clear_stops_the_stall_cycle_and_resumes_the_stream() -> None:
    broker = make_broker(faults={"stall_every_s": 0.01, "stall_for_s": NEVER_S})
    ticks = broker.stream_ticks([AAA])

    async def stalled() -> bool:
        return broker.faults.stalled

    async with broker:
        await eventually(stalled)
        broker.faults.clear()
        broker.set_price(AAA, "101")

        assert not broker.faults.stalled
        assert (await next_tick(ticks)).last_price == D("101.00")


# ------------------------------------------------------------------------------ drops and connects


async def test_a_dropped_stream_raises_on_its_next_read_and_a_new_call_reconnects() -> None:
    broker = make_broker()
    waiting, behind = broker.stream_ticks([AAA]), broker.stream_ticks([BBB])
    reader = asyncio.create_task(next_item(waiting), name="test reader")
    await asyncio.sleep(0)  # the reader is blocked on an empty stream
    broker.set_price(BBB, "201")  # queued for the other stream, not read yet

    broker.faults.drop_stream()

    with pytest.raises(BrokerUnavailable, match="connection dropped"):
        await asyncio.wait_for(reader, WAIT_S)
    with pytest.raises(BrokerUnavailable, match="connection dropped"):
        await next_item(behind)  # what it had queued is lost with the connection
    with pytest.raises(StopAsyncIteration):
        await next_item(behind)
    fresh = broker.stream_ticks([AAA])
    broker.set_price(AAA, "102")
    assert (await next_tick(fresh)).last_price == D("102.00")


async def test_fail_connect_fails_the_next_streams_at_first_read_then_connects() -> None:
    broker = make_broker()
    broker.faults.fail_connect(2)

    for _ in range(2):
        with pytest.raises(BrokerUnavailable):
            await next_item(broker.stream_ticks([AAA]))
    stream = broker.stream_ticks([AAA])
    broker.set_price(AAA, "101")

    assert (await next_tick(stream)).last_price == D("101.00")


async def test_an_expired_token_fails_every_connect_until_cleared() -> None:
    broker = make_broker()
    broker.faults.fail_connect(1, auth=True)

    for _ in range(3):
        with pytest.raises(AuthenticationFailed, match="token expired"):
            await next_item(broker.stream_ticks([AAA]))
    broker.faults.clear()
    stream = broker.stream_ticks([AAA])
    broker.set_price(AAA, "101")

    assert (await next_tick(stream)).last_price == D("101.00")


# ------------------------------------------------------------------------------ orders


async def test_reject_next_gives_rejected_orders_with_the_reason_then_normal_ones() -> None:
    broker = make_broker()
    updates = broker.stream_order_updates()
    broker.faults.reject_next(2, reason="RMS: margin shortfall")

    first = await broker.create_order(request(), "r-1")
    second = await broker.create_order(request(), "r-2")
    third = await broker.create_order(request(), "ok")

    assert (first.status, first.message) == (OrderStatus.REJECTED, "RMS: margin shortfall")
    assert second.status is OrderStatus.REJECTED and third.status is OrderStatus.FILLED
    assert [o.status for o in await broker.fetch_orders()] == [
        OrderStatus.REJECTED,
        OrderStatus.REJECTED,
        OrderStatus.FILLED,
    ]
    assert (await next_item(updates)).report == first
    assert [f.client_order_id for f in await broker.fetch_fills()] == ["ok"]


async def test_reject_every_rejects_every_nth_order_from_the_settings() -> None:
    broker = make_broker(faults={"reject_every": 2})

    reports = [await broker.create_order(request(), f"o-{n}") for n in range(4)]

    assert [r.status for r in reports] == [OrderStatus.FILLED, OrderStatus.REJECTED] * 2
    assert reports[1].message == RMS_REASON


async def test_a_market_order_rejected_after_accept_is_open_then_rejected_and_never_fills() -> None:
    broker = make_broker()
    updates = broker.stream_order_updates()
    broker.faults.reject_after_accept(reason="RMS: rejected after placed")

    report = await broker.create_order(request(), "late")
    broker.set_price(AAA, "101")  # the next tick comes before the rejection could be late

    assert report.status is OrderStatus.OPEN
    assert await statuses(updates, 2) == [OrderStatus.OPEN, OrderStatus.REJECTED]
    rejected = await broker.fetch_order(report.broker_order_id)
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.message == "RMS: rejected after placed"
    assert (rejected.filled_quantity, await broker.fetch_fills()) == (0, [])
    assert await broker.fetch_positions() == []


async def test_the_late_rejection_comes_on_the_next_loop_iteration_without_a_tick() -> None:
    broker = make_broker()
    broker.faults.reject_after_accept()

    report = await broker.create_order(request(order_type=OrderType.LIMIT, price="90.00"), "x")
    await asyncio.sleep(0)

    assert (await broker.fetch_order(report.broker_order_id)).status is OrderStatus.REJECTED
    with pytest.raises(BrokerRejected, match="already REJECTED"):
        await broker.cancel_order(report.broker_order_id)


async def test_timeout_after_accept_raises_but_leaves_exactly_one_working_order() -> None:
    broker = make_broker()
    updates = broker.stream_order_updates()
    broker.faults.timeout_after_accept()

    with pytest.raises(OutcomeUnknown, match="read timeout"):
        await broker.create_order(request(quantity=5), "lost-answer")

    [order] = await broker.fetch_orders()
    assert (order.client_order_id, order.status) == ("lost-answer", OrderStatus.FILLED)
    assert await broker.fetch_order_by_client_id("lost-answer") == order
    assert await statuses(updates, 2) == [OrderStatus.OPEN, OrderStatus.FILLED]
    with pytest.raises(BrokerRejected):
        await broker.create_order(request(quantity=5), "lost-answer")  # a blind retry is refused
    assert (await broker.create_order(request(), "next")).status is OrderStatus.FILLED


async def test_delayed_writes_are_not_answered_until_the_delay_passes() -> None:
    broker = make_broker()
    resting = await broker.create_order(request(order_type=OrderType.LIMIT, price="90.00"), "r")
    broker.faults.delay_orders(NEVER_S)

    create = asyncio.create_task(broker.create_order(request(), "slow"), name="test create")
    cancel = asyncio.create_task(broker.cancel_order(resting.broker_order_id), name="test cancel")
    for _ in range(5):
        await asyncio.sleep(0)

    assert not create.done() and not cancel.done()
    assert [o.client_order_id for o in await broker.fetch_orders()] == ["r"]
    assert [o.client_order_id for o in await broker.fetch_open_orders()] == ["r"]
    create.cancel()
    cancel.cancel()
    await asyncio.wait({create, cancel})
    broker.faults.delay_orders(0)
    cancelled = await asyncio.wait_for(broker.cancel_order(resting.broker_order_id), WAIT_S)
    assert cancelled.status is OrderStatus.CANCELLED


# ------------------------------------------------------------------------------ quotes, clear


async def test_fail_quotes_fails_the_next_fetches_then_answers() -> None:
    broker = make_broker()
    broker.faults.fail_quotes(2)

    for _ in range(2):
        with pytest.raises(BrokerUnavailable):
            await broker.fetch_quotes([AAA])

    assert (await prices(broker))[AAA] == D("100.00")


async def test_clear_switches_every_fault_off() -> None:
    broker = make_broker(faults={"reject_every": 1})
    faults = broker.faults
    faults.stall_stream()
    faults.fail_connect(3)
    faults.reject_next(3)
    faults.reject_after_accept(3)
    faults.timeout_after_accept(3)
    faults.delay_orders(NEVER_S)
    faults.fail_quotes(3)

    faults.clear()

    stream = broker.stream_ticks([AAA])
    report = await asyncio.wait_for(broker.create_order(request(), "normal"), WAIT_S)
    broker.set_price(AAA, "101")
    assert report.status is OrderStatus.FILLED
    assert (await next_tick(stream)).last_price == D("101.00")
    assert (await prices(broker))[AAA] == D("101.00")
    assert not faults.stalled and faults.order_delay_s == 0


async def test_clear_rejects_an_order_accepted_for_rejection_rather_than_fill_it() -> None:
    broker = make_broker()
    broker.faults.reject_after_accept()
    report = await broker.create_order(request(), "late")

    broker.faults.clear()
    broker.set_price(AAA, "101")

    assert (await broker.fetch_order(report.broker_order_id)).status is OrderStatus.REJECTED


def test_a_negative_fault_count_or_delay_is_refused() -> None:
    faults = make_broker().faults

    with pytest.raises(ValueError, match="zero or more"):
        faults.reject_next(-1)
    with pytest.raises(ValueError, match="zero or a positive"):
        faults.delay_orders(-0.5)
